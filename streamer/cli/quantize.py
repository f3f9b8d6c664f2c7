"""`depth-streamer quantize`: build and gate the int8 (or bf16) network on real frames, and cache it."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

import streamer.cli.flags as flags
from streamer.errors import EXIT_RUNTIME

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quantize", help="build and gate the int8 (or bf16) network on real frames; caches it")
    flags.add_weights(q)
    flags.add_precision(q, default="int8")
    flags.add_calibration(q)
    q.add_argument("--net-size", type=flags.number(int, 32, 4096), default=256)
    q.add_argument("--threads", type=flags.number(int, 0, 1024), default=0)
    q.add_argument("--calibration-frames", type=flags.number(int, 1, 100_000), default=32)
    q.add_argument("--gate-frames", type=flags.number(int, 1, 100_000), default=16)
    q.add_argument("--max-nmae", type=flags.number(float, above=0, hi=1),
                   help="gate: mean NMAE bound (default: model.max_nmae)")
    q.add_argument("--min-corr", type=flags.number(float, 0, 1),
                   help="gate: mean correlation bound (default: model.min_corr)")
    q.add_argument("--any-cpu", action="store_true",
                   help="building for another machine: gate accuracy here but skip the race against fp32 (this "
                        "CPU's speed says nothing about that one's)")
    q.set_defaults(handler=cmd_quantize)


def options_from(args: argparse.Namespace):
    from streamer.model import ModelOptions

    overrides: dict[str, Any]  # argparse values: each checked by ModelOptions.validate()
    overrides = {k: v for k, v in (("precision", args.precision), ("threads", getattr(args, "threads", 0)),
                                   ("net_size", getattr(args, "net_size", None)),
                                   ("calibration_frames", getattr(args, "calibration_frames", None)),
                                   ("gate_frames", getattr(args, "gate_frames", None)),
                                   ("max_nmae", getattr(args, "max_nmae", None)),
                                   ("min_corr", getattr(args, "min_corr", None))) if v is not None}
    options = dataclasses.replace(ModelOptions(backend="onnxruntime", device="cpu"), **overrides)
    options.validate()
    return options


def cmd_quantize(args: argparse.Namespace) -> int:
    from streamer.errors import StreamerError
    from streamer.model.backends import OnnxRuntimeBackend
    from streamer.model.precision.calibration import load_frame_set
    from streamer.model.precision.choose import Int8Model
    from streamer.model.precision.manager import PrecisionManager, explain
    from streamer.model.weights import cache_dir, identify, resolve_weights_path

    if not args.calibration:
        raise StreamerError("quantize needs --calibration VIDEO_OR_DIR: real frames (never noise) to calibrate on")
    options = options_from(args)
    path = resolve_weights_path(args.weights)
    weights = identify(path)
    fp32 = OnnxRuntimeBackend(weights.sha256, path, cache_dir() / "onnx", threads=options.threads)
    frames = load_frame_set(args.calibration, options.calibration_frames, options.gate_frames)
    manager = PrecisionManager(options, fp32)
    manager.race = not args.any_cpu
    choice = manager.select(frames)
    print(f"weights {weights.path} (sha256 {weights.sha256[:16]}), {frames.describe()}; CPU {manager.cpu.model}")
    print(f"{'precision':9s} {'NMAE %':>7s} {'worst %':>8s} {'corr':>8s} {'ms':>6s} {'fp32 ms':>7s}  verdict")
    for r in choice.results:
        verdict = "REFUSED: " + r.reason if not r.passed else ("pass" if r.won or not r.raced else "LOST the race")
        print(f"{r.precision:9s} {r.nmae * 100:7.2f} {r.worst_nmae * 100:8.2f} {r.corr:8.5f} {r.ms:6.1f} "
              f"{r.fp32_ms:7.1f}  {verdict}")
    if choice.precision == "int8" and manager.size:
        print(f"int8 model: {Int8Model(fp32, frames, manager.settings)(*manager.size)}")
    print(choice.reason.split(";")[0] + (" - " + "; ".join(manager.notes) if manager.notes else ""))
    explain(args.precision, choice)
    if args.precision != "auto" and choice.precision != args.precision:
        print(f"{args.precision} refused; see the reasons above", file=sys.stderr)
        return EXIT_RUNTIME
    return 0
