"""Stand-ins for the network in the precision tests: a backend with a set noise and delay, and a CPU with every
feature."""
from __future__ import annotations

import time

import numpy as np

from streamer.model.precision.cpu import CpuFeatures

ALL = CpuFeatures(frozenset({"avx512_vnni", "avx512_bf16"}), "test CPU", arch="x86")


class Fake:
    """A backend whose output is the first input channel plus noise of a given size, after a fixed delay."""

    name = "onnxruntime"
    streams = 1

    def __init__(self, noise: float = 0.0, delay: float = 0.0, precision: str = "fp32") -> None:
        self.noise, self.delay, self.precision = noise, delay, precision
        self.rng = np.random.default_rng(1)

    def infer(self, x):
        time.sleep(self.delay)
        base = x[0, 0].astype(np.float64) * 100 + x[0, 1] * 50
        return (base + self.rng.normal(0, self.noise, base.shape)).astype(np.float32)

    def describe(self):
        return {"backend": "fake", "precision": self.precision}


def fake_inputs(n=6):
    rng = np.random.default_rng(2)
    return [rng.random((1, 3, 24, 32)).astype(np.float32) for _ in range(n)]


FP32_S, FAST_S = 0.012, 0.002  # fake latencies: a candidate "wins" the race at FAST_S, "loses" above FP32_S
