"""The flags several commands share, declared here once: --config, --set, --weights, --precision (and --calibration),
--backend/--device/--threads; and the one way their values become config overrides."""
from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from streamer.config.schema import Override, parse_set
from streamer.model.precision import REQUESTS

WEIGHTS_HELP = "weights file (default: $DEPTH_STREAMER_WEIGHTS, else the fetched file)"
PRECISION_HELP = ("network precision; a low precision must pass the accuracy gate against fp32 and beat fp32 in a race "
                  "on this machine, else it falls back (and says so)")
# The network flags as config keys: `run` and `infer` take them, --set takes any key.
MODEL_FLAGS = (("backend", "model.backend"), ("device", "model.device"), ("threads", "model.threads"),
               ("precision", "model.precision"))


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
    p.add_argument("--threads", type=int)


def overrides(args: argparse.Namespace, flags: Iterable[tuple[str, str]]) -> list[Override]:
    """`--set` items, then each given dedicated flag (attribute, config key), as overrides: values, never TOML text."""
    found = [parse_set(item) for item in getattr(args, "set", None) or []]
    for flag, key in flags:
        value = getattr(args, flag, None)
        if value is not None:
            found.append(Override(key, value, f"--{flag.replace('_', '-')}"))
    return found
