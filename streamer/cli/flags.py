"""The flags several commands share, declared here once: --config, --set, --weights, --precision (and --calibration),
--backend/--device/--threads; and the one way their values become config overrides."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from pathlib import Path

from streamer.config.schema import Override, parse_set
from streamer.model.precision import REQUESTS

WEIGHTS_HELP = "weights file (default: $DEPTH_STREAMER_WEIGHTS, else the fetched file)"
PRECISION_HELP = ("network precision; a low precision must pass the accuracy gate against fp32 and beat fp32 in a race "
                  "on this machine, else it falls back (and says so)")
# The network flags as config keys: `run` and `infer` take them, --set takes any key.
MODEL_FLAGS = (("backend", "model.backend"), ("device", "model.device"), ("threads", "model.threads"),
               ("precision", "model.precision"))


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes in one line (the command, the argument, what is wrong; --help for more), exit 2: the same
    shape as every other refusal, not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


SEED_MAX = 2**32 - 1  # numpy's seeds are non-negative


def number(kind: type[int] | type[float], lo: float | None = None, hi: float | None = None, *,
           above: float | None = None) -> Callable[[str], float]:
    """An argparse `type=`: a whole number (`int`) or a finite number (`float`) within [lo, hi] (and > `above`),
    checked while the command line is read, so no command starts its work on a value it cannot use."""
    word = "a whole number" if kind is int else "a number"

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {word}, got {text!r:.40}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r:.40}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be more than {above:g}, got {text:.40}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"from {lo:g} to {hi:g}" if lo is not None and hi is not None else \
                f"at least {lo:g}" if lo is not None else f"at most {hi:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text:.40}")
        return value
    convert.__name__ = kind.__name__  # argparse names the type in its own messages
    return convert


def add_config(p: argparse.ArgumentParser, help: str = "TOML config (see configs/); without it, built-in defaults",
               ) -> None:
    p.add_argument("--config", type=Path, help=help)


def add_set(p: argparse.ArgumentParser, help: str = "override any config key") -> None:
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help=help)


def add_weights(p: argparse.ArgumentParser, help: str = WEIGHTS_HELP, required: bool = False) -> None:
    p.add_argument("--weights", required=required, help=help)


def add_precision(p: argparse.ArgumentParser, default: str | None = None, choices: tuple[str, ...] = REQUESTS,
                  help: str = PRECISION_HELP) -> None:
    p.add_argument("--precision", default=default, choices=choices, help=help)


def add_calibration(p: argparse.ArgumentParser, required: bool = False,
                    help: str = "real frames to calibrate int8 on and to gate with (a video file or a folder of "
                                "images)") -> None:
    p.add_argument("--calibration", required=required, metavar="VIDEO_OR_DIR", help=help)


def add_network(p: argparse.ArgumentParser) -> None:
    """--backend, --device, --threads: how the network runs (model.backend, model.device, model.threads)."""
    p.add_argument("--backend", choices=("auto", "torch", "onnxruntime"))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=number(int, 0, 1024))


def overrides(args: argparse.Namespace, flags: Iterable[tuple[str, str]]) -> list[Override]:
    """`--set` items, then each given dedicated flag (attribute, config key), as overrides: values, never TOML text."""
    found = [parse_set(item) for item in getattr(args, "set", None) or []]
    for flag, key in flags:
        value = getattr(args, flag, None)
        if value is not None:
            found.append(Override(key, value, f"--{flag.replace('_', '-')}"))
    return found
