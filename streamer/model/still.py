"""StillDepthModel: depth of uploaded photos beside the live inference worker, sharing its weights, not its buffers.

The live worker's `DepthModel.predict` reuses one Preprocessor and runs the backend at the configured thread count;
an upload must neither race that nor take the cores from it. So each photo gets its own preprocessing, and on ONNX
Runtime its own sessions (from the same on-disk export cache) with `threads` intra-op threads and no spinning; the
torch backend is shared as is (its forward pass is reentrant). Photos much larger than the network input are first
reduced with area averaging in uint8: the official float64 cubic resize of a 12 MP photo would need ~300 MB and a
second of CPU, to feed a 256-pixel network.

A photo whose aspect gives a network size not in the export cache yet needs one ONNX export at that size. It runs in
a child process (which inherits the upload thread's niceness), so the daemon never imports torch for it: that would
stay resident (~0.9 GB) for the process's life. Once exported, a size is a cache hit for good.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from streamer.model import DepthModel
from streamer.model.preprocess import Preprocessor

log = logging.getLogger(__name__)
EXPORT_TIMEOUT_S = 600.0
PRESCALE = 4  # photos are reduced to at most this many times the network size (longer side) before preprocessing


class StillDepthModel:
    """Implements `streamer.core.still.StillDepth` over a loaded DepthModel. Thread-safe."""

    def __init__(self, model: DepthModel, threads: int = 1, max_sessions: int = 2) -> None:
        self._backend = model.backend
        self._weights_path = model.weights_path
        self.net_size = model.preprocess.net_size
        self.max_input_side = PRESCALE * self.net_size
        self.threads = threads
        self.max_sessions = max_sessions
        self._lock = threading.Lock()  # session cache and creation (an export must not run twice at once)
        self._sessions: OrderedDict[tuple[int, int], object] = OrderedDict()

    def depth(self, bgr: np.ndarray) -> np.ndarray:
        x = Preprocessor(self.net_size)(self.reduce(bgr))  # a fresh one: the worker's reuses its state
        return np.asarray(self._infer(x), dtype=np.float32)

    def reduce(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        scale = self.max_input_side / max(h, w)
        if scale >= 1.0:
            return bgr
        return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self._backend, "onnx_file"):  # torch: one shared module, called reentrantly
            return self._backend.infer(x)
        return self._session(x.shape[2], x.shape[3]).run(None, {"image": x})[0][0]

    def _session(self, height: int, width: int):
        key = (height, width)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # never spin for a core
                path = self._onnx_file(height, width)
                session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                self._sessions[key] = session
                while len(self._sessions) > self.max_sessions:  # ~70 MB each: keep the recent sizes only
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            return session

    def _onnx_file(self, height: int, width: int) -> Path:
        backend = self._backend
        cached = backend.cache_path(height, width)
        if not (cached.is_file() and cached.with_suffix(".json").is_file()):
            self._export_in_child(height, width)
        return backend.onnx_file(height, width)  # checks the cached file; exports here only if the child failed

    def _export_in_child(self, height: int, width: int) -> None:
        b = self._backend
        args = [str(self._weights_path), b.weights_sha256, str(b.cache_dir), str(height), str(width)]
        code = "import sys; from streamer.model.still import export_main; export_main(sys.argv[1:])"
        log.info("exporting the network at %dx%d for an uploaded photo, in a child process", width, height)
        try:
            done = subprocess.run([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("export in a child process failed (%s); exporting in this one", e)
            return
        if done.returncode != 0:
            log.warning("export in a child process failed (exit %d): %s; exporting in this one", done.returncode,
                        done.stderr.strip().splitlines()[-1:] or "no output")


def export_main(argv: list[str]) -> None:
    """Child process: export the network at one size into the cache (the caller then loads it from there)."""
    from streamer.model import build_network
    from streamer.model.backends import OnnxRuntimeBackend
    from streamer.model.weights import read_state_dict

    weights, sha256, cache, height, width = argv
    backend = OnnxRuntimeBackend(sha256, lambda: build_network(read_state_dict(weights)), Path(cache), threads=1)
    backend.onnx_file(int(height), int(width))
