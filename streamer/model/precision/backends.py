"""Backends for a prepared ONNX file (bf16 or int8), with OnnxRuntimeBackend's interface: 1x3xHxW -> HxW float32.

OpenVINO runs bf16 natively on AVX512_BF16/AMX (ONNX has no bf16 Conv, so ONNX Runtime's CPU provider cannot) and
runs the int8 QDQ file from quantize.py ~2x faster than ONNX Runtime on this CPU (README.md, "Precision"); ONNX Runtime
stays as the int8 engine where the openvino package is absent. One compiled model per input size, built lazily from
`model_file(height, width)`; infer() may be called from several threads (the re-check runs beside the worker).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from streamer.core.memory import trim
from streamer.errors import StreamerError
from streamer.model.backends import default_threads, ort_session

ModelFile = Callable[[int, int], Path]
ENGINES = ("auto", "openvino", "onnxruntime")
# One stream (one request at a time: the worker's), latency-tuned: a camera's frame is published soonest. `bench
# precision` times the alternatives (pinning on/off, fewer threads) on the machine at hand; change this only on its
# figures. A lossless file runs `stream_layout(n)` instead (model.frames_in_flight): n streams of threads/n each,
# n frames in the network at once; on 2 cores that spends ~12 % fewer CPU-ms a frame than two threads on one
# request (README.md, "Frames in flight").
LAYOUT = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}


def stream_layout(n: int) -> dict:
    """The OpenVINO layout for `n` requests at once (1: LAYOUT's latency layout)."""
    return {} if n <= 1 else {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": n}


def openvino_available() -> bool:
    return find_spec("openvino") is not None


def engine_for(precision: str, requested: str = "auto", cpu=None, has_openvino: bool | None = None) -> str:
    """Which engine runs `precision`: bf16 only on OpenVINO; int8 on the CPU's preferred engine (cpu.py) when
    installed, else the other one. `requested` (model.precision_engine) overrides: onnxruntime leaves bf16 out."""
    if requested not in ENGINES:
        raise StreamerError(f"unknown precision engine {requested!r} ({', '.join(ENGINES)})")
    ov = openvino_available() if has_openvino is None else has_openvino
    if precision == "bf16":
        if requested == "onnxruntime":
            raise StreamerError("bf16 needs OpenVINO (model.precision_engine = onnxruntime): ONNX Runtime's CPU "
                                "provider has no bf16 convolution")
        if not ov:
            raise StreamerError("bf16 needs the openvino package, which is not installed (pip install openvino)")
        return "openvino"
    if requested == "auto":
        preferred = cpu.int8_engine() if cpu is not None else "openvino"
        return preferred if preferred != "openvino" or ov else "onnxruntime"
    if requested == "openvino" and not ov:
        raise StreamerError("precision engine openvino requested but the openvino package is not installed")
    return requested


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, model_file: ModelFile, precision: str, threads: int = 0, layout: dict | None = None) -> None:
        import openvino

        self._core = openvino.Core()
        self.layout = {**LAYOUT, **(layout or {})}
        self.model_file = model_file
        self.precision = precision
        self.threads = threads or default_threads()
        self.streams = int(self.layout["NUM_STREAMS"])
        # int8 layers run int8 whatever the hint; f32 keeps the layers quantize.py left in float exactly float.
        self._hint = "bf16" if precision == "bf16" else "f32"
        self._compiled: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def compiled(self, height: int, width: int):
        key = (height, width)
        with self._lock:
            if key not in self._compiled:
                config = {"INFERENCE_PRECISION_HINT": self._hint, "INFERENCE_NUM_THREADS": self.threads,
                          **self.layout}
                self._compiled[key] = self._core.compile_model(str(self.model_file(height, width)), "CPU", config)
                trim()  # reading and compiling the ONNX file freed its graph (13-65 MB) that malloc keeps
            return self._compiled[key]

    def infer(self, x: np.ndarray) -> np.ndarray:
        key = (x.shape[2], x.shape[3])
        requests = self._local.__dict__.setdefault("requests", {})
        if key not in requests:  # one infer request per thread and size: requests are not thread-safe
            requests[key] = self.compiled(*key).create_infer_request()
        out = requests[key].infer({0: x})[0]
        return np.array(out[0], dtype=np.float32)  # a copy: the request reuses its output buffer

    def describe(self) -> dict:
        return {"backend": self.name, "device": "cpu", "threads": self.threads, "precision": self.precision,
                "streams": self.streams}


class OrtFileBackend:
    name = "onnxruntime"

    def __init__(self, model_file: ModelFile, precision: str, threads: int = 0, streams: int = 1) -> None:
        self.model_file = model_file
        self.precision = precision
        self.streams = max(1, streams)
        # `streams` runs at once share the cores: each session run gets its share of the threads.
        self.threads = max(1, (threads or default_threads()) // self.streams)
        self._sessions: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()

    def session(self, height: int, width: int):
        key = (height, width)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = ort_session(self.model_file(height, width), self.threads)
            return self._sessions[key]

    def infer(self, x: np.ndarray) -> np.ndarray:
        session = self.session(x.shape[2], x.shape[3])
        return session.run(None, {session.get_inputs()[0].name: x})[0][0]

    def describe(self) -> dict:
        return {"backend": self.name, "device": "cpu", "threads": self.threads, "precision": self.precision,
                "streams": self.streams}


def make_backend(engine: str, model_file: ModelFile, precision: str, threads: int = 0, layout: dict | None = None):
    if engine == "openvino":
        return OpenVinoBackend(model_file, precision, threads, layout)
    return OrtFileBackend(model_file, precision, threads, int((layout or {}).get("NUM_STREAMS", 1)))
