"""Learning-rate schedule, atomic checkpoints (resume state) and the exported weights file (official key layout)."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from streamer.errors import StreamerError

FORMAT = "depth-streamer-train/1"


class WarmupCosine:
    """LambdaLR factor: linear warm-up over `warmup` steps to 1, then cosine decay to 0 at `total` steps.

    A class rather than a lambda so LambdaLR's state_dict carries it (plain ints) into the checkpoint.
    """

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup = max(1, int(warmup))
        self.total = max(self.warmup + 1, int(total))

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / (self.total - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def checkpoint_path(out: str | os.PathLike) -> Path:
    """The resume checkpoint beside OUT: model.pt -> model.ckpt."""
    out = Path(out)
    return out.with_suffix(".ckpt") if out.suffix != ".ckpt" else out.with_name(out.name + ".ckpt")


def _atomic_torch_save(obj, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        # The rename is the commit point: a crash or a second Ctrl-C leaves the previous complete file in place.
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_checkpoint(path: Path, state: dict) -> None:
    _atomic_torch_save({"format": FORMAT, **state}, path)


def load_checkpoint(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise StreamerError(f"--resume: no checkpoint at {path} (it is written beside --out at the end of each "
                            f"epoch and on Ctrl-C); start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # data only: nothing in it may run code
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise StreamerError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StreamerError(f"{path} is not a depth-streamer training checkpoint ({FORMAT})")
    return state


def export_weights(model, path: str | os.PathLike) -> None:
    """A plain state dict, the official file's keys and shapes, that `run`, `infer` and `eval` load strictly."""
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    _atomic_torch_save(state, Path(path))
