"""Training settings and their 2-core defaults, the validation split, and what --resume takes from a checkpoint."""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from streamer.errors import ConfigError, StreamerError
from streamer.model.preprocess import NET_SIZE, STRIDE
from streamer.train.dataset import DEFAULT_DEPTH_SCALE

log = logging.getLogger(__name__)
SMALL_SET = 500  # below this many training images the backbone's BatchNorm statistics stay frozen (--freeze-bn auto)


@dataclass
class TrainOptions:
    data: str
    out: str
    weights: str | None = None
    epochs: int = 10
    batch: int = 4
    lr: float = 1e-4  # decoder; the encoder gets lr * encoder_lr_scale (MiDaS: 1e-4 decoder, 1e-5 encoder)
    # 192 px crops: 5.5 img/s on 2 cores against 2.5 at the native 256 (README); MiDaS is trained on random crops
    # and runs at 256 in the daemon and in `eval`, which validation also uses.
    size: int = 192
    val_split: float = 0.1
    freeze_backbone: bool = False
    freeze_bn: str = "auto"  # auto: frozen when the training split has < SMALL_SET images; "on", "off"
    depth_scale: float = DEFAULT_DEPTH_SCALE
    max_depth: float | None = None
    seed: int = 0
    threads: int = 0  # 0: every core this process may use
    weight_decay: float = 1e-4
    warmup: float = 0.05  # share of all steps spent warming up
    clip: float = 1.0  # gradient-norm clip: one bad batch (a mis-registered frame) cannot wreck trained weights
    encoder_lr_scale: float = 0.1
    eval_size: int = NET_SIZE

    def validate(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch < 1:
            problems.append(f"--batch must be >= 1, got {self.batch}")
        if not self.lr > 0:
            problems.append(f"--lr must be > 0, got {self.lr}")
        if self.size < STRIDE or self.size % STRIDE:
            problems.append(f"--size must be a positive multiple of {STRIDE} (e.g. 160, 192, 256), got {self.size}")
        if not 0 <= self.val_split < 1:
            problems.append(f"--val-split must be in [0, 1), got {self.val_split}")
        if self.freeze_bn not in ("auto", "on", "off"):
            problems.append(f"--freeze-bn must be auto, on or off, got {self.freeze_bn!r}")
        if self.max_depth is not None and not self.max_depth > 0:
            problems.append(f"--max-depth must be > 0 metres, got {self.max_depth}")
        if problems:
            raise ConfigError("; ".join(problems))


# What fixes the schedule and the data it sees: --resume takes these from the checkpoint, whatever the flags say.
RUN_KEYS = tuple(f.name for f in fields(TrainOptions) if f.name not in ("data", "out", "weights", "threads"))


def resume_options(opts: TrainOptions, saved: dict, given: set[str]) -> TrainOptions:
    """`opts` with every RUN_KEYS value from the checkpoint; warns about flags that asked for something else."""
    merged = asdict(opts)
    for key in RUN_KEYS:
        if key not in saved:
            continue
        if key in given and merged[key] != saved[key]:
            log.warning("--resume: ignoring %s=%s; the run continues with its own %s=%s (same schedule)",
                        key, merged[key], key, saved[key])
        merged[key] = saved[key]
    return TrainOptions(**merged)


def split_names(names: list[str], val_split: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, val) names: a seeded shuffle, so the split is the same every time for the same folder."""
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = math.ceil(val_split * len(names)) if val_split > 0 and len(names) >= 2 else 0
    n_val = min(n_val, len(names) - 1)  # always keep something to train on
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


def check_same_data(names: list[str], train: list[str], val: list[str]) -> None:
    now, then = set(names), set(train) | set(val)
    if now != then:
        added, missing = sorted(now - then), sorted(then - now)
        raise StreamerError(f"--resume: the dataset changed since the checkpoint ({len(added)} added: "
                            f"{', '.join(added[:5]) or '-'}; {len(missing)} missing: {', '.join(missing[:5]) or '-'}); "
                            f"a resumed run needs the same frames, or start a new run without --resume")


def bn_frozen(opts: TrainOptions, n_train: int) -> bool:
    """Batches of 4 give BatchNorm noisy statistics; with a small set, keeping the trained ones is safer."""
    if opts.freeze_backbone or opts.freeze_bn == "on":
        return True
    return opts.freeze_bn == "auto" and n_train < SMALL_SET
