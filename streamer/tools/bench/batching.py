"""`depth-streamer bench batching`: would frames of several streams gain from going through the network together?

Issue 24 asks for batching "where the backend gains from it, chosen by a race". This measures the gain before anyone
builds it: the network exported for a fixed batch of 1 and of N (no dynamic axis, so each graph is as optimised as
the serving one), both run in ONNX Runtime fp32 on the serving threads, alternated ROUNDS times; and N one-thread
sessions side by side (the shape of N daemons). Frames per second of the network alone, ratios against batch 1.
"""
from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from streamer.model.backends import default_threads, ort_session
from streamer.model.preprocess import network_size
from streamer.model.weights import resolve_weights_path
from streamer.tools.measure import load_1m


def _rate(session, x: np.ndarray, seconds: float) -> float:
    for _ in range(2):
        session.run(None, {"image": x})
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        session.run(None, {"image": x})
        frames += x.shape[0]
    return frames / (time.perf_counter() - t0)


def bench_batching(weights: str | None, batch: int, seconds: float, rounds: int, width: int = 640,
                   height: int = 480, net_size: int = 256) -> dict:
    import torch

    from streamer.model import build_network
    from streamer.model.weights import read_state_dict

    net_w, net_h = network_size(width, height, net_size)
    threads = default_threads()
    network = build_network(read_state_dict(resolve_weights_path(weights))).eval()
    print(f"network {net_w}x{net_h}, fp32 ONNX Runtime, {threads} threads; batch {batch} vs 1; load {load_1m()}")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp:
        sessions = {}
        for n in (1, batch):
            path = Path(tmp) / f"b{n}.onnx"
            with torch.no_grad():
                torch.onnx.export(network, (torch.zeros(n, 3, net_h, net_w),), str(path), dynamo=False,
                                  opset_version=17, input_names=["image"], output_names=["depth"])
            sessions[n] = ort_session(path, threads)
        inputs = {n: np.random.default_rng(0).random((n, 3, net_h, net_w), np.float32) for n in (1, batch)}
        for r in range(rounds):
            one, many = _rate(sessions[1], inputs[1], seconds), _rate(sessions[batch], inputs[batch], seconds)
            rows.append({"batch1_fps": one, f"batch{batch}_fps": many, "ratio": many / one})
            print(f"  round {r + 1}: batch 1 {one:.1f} fps, batch {batch} {many:.1f} fps = {many / one:.2f}x")
        singles = [ort_session(Path(tmp) / "b1.onnx", 1) for _ in range(batch)]
        rates: list[float] = [0.0] * batch

        def run(i: int) -> None:
            rates[i] = _rate(singles[i], inputs[1], seconds)

        workers = [threading.Thread(target=run, args=(i,)) for i in range(batch)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    side = sum(rates)
    ratios = sorted(row["ratio"] for row in rows)
    last_one = rows[-1]["batch1_fps"]
    print(f"  {batch} one-thread sessions side by side: {side:.1f} fps = {side / last_one:.2f}x batch 1")
    print(f"batch {batch} / batch 1: median {ratios[len(ratios) // 2]:.2f}x (issue 24's unpaced target needs ~1.3x); "
          f"load {load_1m()}")
    return {"rounds": rows, "side_by_side_fps": side, "median_ratio": ratios[len(ratios) // 2]}
