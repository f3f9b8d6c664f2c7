"""Network latency and accuracy per precision and engine, all from one run (so the speed-ups compare like with like).

    depth-streamer bench precision --weights W --calibration VIDEO_OR_DIR [--images A.jpg B.jpg]

Latency: median of `runs` inferences per row, timed interleaved (round-robin) so load from other processes hits
every row alike; the load average is printed before and after. Accuracy: NMAE / worst-frame NMAE / mean corr vs
ONNX Runtime fp32 on the held-out frames of the calibration source (never the calibration frames), and on
`images` (photos the calibration never saw) when given.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from streamer.core import timing
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.interface import Backend
from streamer.model.precision.backends import make_backend, openvino_available
from streamer.model.precision.calibration import load_frame_set, network_inputs
from streamer.model.precision.choose import Int8Model
from streamer.model.precision.cpu import detect
from streamer.model.precision.gate import compare
from streamer.model.precision.quantize import DEFAULT_SETTINGS
from streamer.model.preprocess import Preprocessor
from streamer.model.weights import cache_dir, identify, resolve_weights_path


def _rows(fp32: OnnxRuntimeBackend, int8: Int8Model, other: Int8Model, threads: int) -> dict[str, Backend]:
    """fp32, bf16 and int8 per engine; int8 also with the other reduce_range than this CPU's setting, and OpenVINO
    int8 under other thread layouts (pinning on/off, one thread fewer)."""
    rr = "rr" if int8.settings.reduce_range else "no-rr"
    rr_other = "no-rr" if int8.settings.reduce_range else "rr"
    rows: dict[str, Backend] = {"fp32 onnxruntime": fp32}
    if openvino_available():
        rows["fp32 openvino"] = make_backend("openvino", fp32.onnx_file, "fp32", threads)
        rows["bf16 openvino"] = make_backend("openvino", fp32.onnx_file, "bf16", threads)
        rows[f"int8 openvino {rr}"] = make_backend("openvino", int8, "int8", threads)
        rows[f"int8 openvino {rr_other}"] = make_backend("openvino", other, "int8", threads)
        for pin in (True, False):
            rows[f"int8 ov {rr} pin={'on' if pin else 'off'}"] = make_backend(
                "openvino", int8, "int8", threads, {"ENABLE_CPU_PINNING": pin})
        if threads > 1:
            rows[f"int8 ov {rr} {threads - 1} thr"] = make_backend("openvino", int8, "int8", threads - 1)
    rows[f"int8 onnxruntime {rr}"] = make_backend("onnxruntime", int8, "int8", threads)
    return rows


def _time(rows: dict[str, Backend], x: np.ndarray, runs: int, rounds: int = 5) -> dict[str, float]:
    """The precision stage's own race (core/timing.py), after one untimed call of each row (build + warm)."""
    return timing.race({name: b.infer for name, b in rows.items()}, [x], rounds, max(1, runs // rounds), warmup=1)


def bench_precisions(weights: str | None, calibration: str, sizes: list[tuple[int, int]], runs: int = 30,
                     threads: int = 0, images: list[Path] | None = None, calibration_frames: int = 32,
                     gate_frames: int = 16, out=sys.stdout) -> list[dict]:
    """Print one table per size (W x H); returns its rows as dicts."""
    path = resolve_weights_path(weights)
    file = identify(path)
    fp32 = OnnxRuntimeBackend(file.sha256, path, cache_dir() / "onnx",
                              threads=threads)
    frames = load_frame_set(calibration, calibration_frames, gate_frames)
    photos = [img for p in images or [] if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None]
    cpu = detect()
    settings = replace(DEFAULT_SETTINGS, reduce_range=cpu.reduce_range())  # what the daemon uses on this CPU
    int8 = Int8Model(fp32, frames, settings)
    other = Int8Model(fp32, frames, replace(settings, reduce_range=not settings.reduce_range))
    rows = _rows(fp32, int8, other, fp32.threads)
    print(f"weights {path} (sha256 {file.sha256[:16]}); {frames.describe()}; threads {fp32.threads}; CPU "
          f"{cpu.model} (int8 native: {cpu.native('int8')}, bf16 native: {cpu.native('bf16')}); "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}", file=out)
    table = []
    for width, height in sizes:
        held = network_inputs(frames.held_out, height, width)
        load0 = os.getloadavg()
        ms = _time(rows, held[0], runs)
        load1 = os.getloadavg()
        ref = [fp32.infer(x) for x in held]
        print(f"\n{width}x{height}: load average {load0[0]:.2f} before, {load1[0]:.2f} after", file=out)
        print(f"{'precision / engine':24s} {'ms':>6s} {'speed-up':>8s} {'NMAE %':>7s} {'worst %':>8s} "
              f"{'corr':>8s}" + ("  photos: NMAE %   corr" if photos else ""), file=out)
        for name, backend in rows.items():
            r = compare(ref, [backend.infer(x) for x in held], name)
            row = {"size": f"{width}x{height}", "row": name, "ms": ms[name],
                   "speedup": ms["fp32 onnxruntime"] / ms[name], "nmae": r.nmae, "worst": r.worst_nmae,
                   "corr": r.corr, "load": [load0[0], load1[0]]}
            line = (f"{name:24s} {ms[name]:6.1f} {row['speedup']:7.2f}x {r.nmae * 100:7.2f} "
                    f"{r.worst_nmae * 100:8.2f} {r.corr:8.5f}")
            if photos:
                pr = _photos(fp32, backend, photos, max(width, height))
                row.update(photo_nmae=pr.nmae, photo_corr=pr.corr)
                line += f"  {pr.nmae * 100:14.2f} {pr.corr:8.5f}"
            print(line, file=out)
            table.append(row)
    return table


def _photos(fp32, backend, photos: list[np.ndarray], net_size: int):
    prep = Preprocessor(net_size)
    xs = [prep(p) for p in photos]
    return compare([fp32.infer(x) for x in xs], [backend.infer(x) for x in xs])
