"""`depth-streamer bench model`: inference latency per backend, size and thread count, against this CPU's limits.

Every figure is measured in the same run as its reference: the FLOPs of each network size (torch's FLOP counter,
2 per multiply-add) and this CPU's float32 matrix-multiply peak (numpy sgemm), so "GFLOP/s" and "% of peak" say how
close a backend gets to what the hardware can do.
"""
from __future__ import annotations

import logging
import statistics
from pathlib import Path

import numpy as np
import torch

from streamer.core import timing
from streamer.model import build_network
from streamer.model.backends import OnnxRuntimeBackend, TorchBackend, default_threads
from streamer.model.midas import MidasSmall
from streamer.model.weights import cache_dir, read_state_dict, resolve_weights_path

log = logging.getLogger(__name__)


def network_gflop(model: torch.nn.Module, width: int, height: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() / 1e9


def sgemm_peak_gflops(n: int = 2048, runs: int = 5) -> float:
    """Best-of-`runs` float32 matrix multiply throughput: a practical compute ceiling for this CPU."""
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best_ms = min(timing.samples(lambda: a @ b, runs))
    return 2 * n**3 / best_ms / 1e6


def time_backend(backend, x: np.ndarray, runs: int, warmup: int = 3) -> list[float]:
    return timing.samples(lambda: backend.infer(x), runs, warmup)


def load_network(weights: str | None) -> tuple[MidasSmall, str, str]:
    path = resolve_weights_path(weights)
    if Path(path).is_file():
        loaded = read_state_dict(path)
        return build_network(loaded), loaded.sha256, str(path)
    # Timing does not depend on the weights' values; say plainly that these are not real ones.
    torch.manual_seed(0)
    return MidasSmall().eval(), "random-init", f"randomly initialised (no weights file at {path})"


def bench_model(weights: str | None, backends: list[str], sizes: list[tuple[int, int]],
                threads: list[int] | None, runs: int) -> list[dict]:
    network, sha, described = load_network(weights)
    cores = default_threads()
    threads = threads or sorted({1, cores})
    peak = sgemm_peak_gflops()
    print(f"weights: {described}")
    print(f"cpu: {cores} usable cores, float32 sgemm peak {peak:.0f} GFLOP/s (numpy, same run)")
    print(f"torch {torch.__version__}; {runs} timed runs per row after 3 warm-up runs\n")
    header = f"{'backend':<12} {'threads':>7} {'size':>8} {'GFLOP':>6} {'median ms':>10} {'p90 ms':>8} " \
             f"{'GFLOP/s':>8} {'% peak':>7} {'floor ms':>9}"
    print(header)
    print("-" * len(header))
    rows = []
    flops = {size: network_gflop(network, *size) for size in sizes}
    for name in backends:
        for t in threads:
            backend = _make_backend(name, network, sha, t)
            for width, height in sizes:
                x = np.random.default_rng(0).standard_normal((1, 3, height, width)).astype(np.float32)
                times = time_backend(backend, x, runs)
                median = statistics.median(times)
                p90 = float(np.percentile(times, 90))
                gf = flops[(width, height)]
                row = {"backend": name, "threads": t, "size": f"{width}x{height}", "gflop": gf, "median_ms": median,
                       "p90_ms": p90, "gflops": gf / median * 1e3, "peak_gflops": peak * t / cores}
                rows.append(row)
                floor = gf / row["peak_gflops"] * 1e3
                print(f"{name:<12} {t:>7} {row['size']:>8} {gf:>6.2f} {median:>10.1f} {p90:>8.1f} "
                      f"{row['gflops']:>8.0f} {100 * row['gflops'] / row['peak_gflops']:>6.0f}% {floor:>9.1f}")
    print("\nfloor ms = the size's FLOPs at numpy's sgemm rate for the threads used: a practical float32 floor\n"
          "(the best convolution kernels reach it; none get meaningfully below it on this CPU).")
    return rows


def _make_backend(name: str, network: MidasSmall, sha: str, threads: int):
    if name == "torch":
        return TorchBackend(network, device="cpu", threads=threads)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(sha, lambda: network, cache_dir() / "onnx", threads=threads)
    raise SystemExit(f"unknown backend {name!r}: choose torch or onnxruntime")
