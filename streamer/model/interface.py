"""What every inference backend offers, as typing Protocols: callers depend on these, never on attribute names.

Backend: TorchBackend and OnnxRuntimeBackend (backends.py), OpenVinoBackend and OrtFileBackend (precision/backends.py).
OnnxExport: the backends that run the cached ONNX export (OnnxRuntimeBackend): photo uploads open their own sessions on
its file, and the low precisions are built from it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Backend(Protocol):
    name: str  # the engine: "torch", "onnxruntime" or "openvino"
    streams: int  # >= 1: requests it runs at once (OpenVINO's NUM_STREAMS): the worker keeps that many frames in flight

    def infer(self, x: np.ndarray) -> np.ndarray:
        """1x3xHxW float32 (the preprocessed frame) -> HxW float32 relative inverse depth."""
        ...

    def describe(self) -> dict:
        """backend, device, threads (and precision) for /stats and the logs."""
        ...


@runtime_checkable
class OnnxExport(Backend, Protocol):
    weights_sha256: str  # the weights the export was made from (part of every cache key built on it)

    def onnx_file(self, height: int, width: int) -> Path:
        """The cached fp32 export for this input size, exported first when absent or damaged."""
        ...

    def release(self) -> None:
        """Drop what running the export holds (its sessions) while a low precision serves; infer rebuilds it."""
        ...
