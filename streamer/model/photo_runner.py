"""PhotoRunner: depth of uploaded photos beside the live inference worker, sharing its weights, not its buffers.

The live worker's `DepthModel.predict` reuses one Preprocessor and runs the backend at the configured thread count;
an upload must neither race that nor take the cores from it. So each photo gets its own preprocessing, and on ONNX
Runtime its own sessions (from the same on-disk export cache) with `threads` intra-op threads and no spinning; the
torch backend is shared as is (its forward pass is reentrant). Photos much larger than the network input are first
reduced with area averaging in uint8: the official float64 cubic resize of a 12 MP photo would need ~300 MB and a
second of CPU, to feed a 256-pixel network.

A photo whose aspect gives a network size not in the export cache yet needs one ONNX export at that size. The backend
runs it in a child process (which inherits the upload thread's niceness), so the daemon never imports torch for it:
that would stay resident (~0.9 GB) for the process's life. Once exported, a size is a cache hit for good.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from streamer.model import DepthModel
from streamer.model.backends import ort_session
from streamer.model.preprocess import Preprocessor

log = logging.getLogger(__name__)
PRESCALE = 4  # photos are reduced to at most this many times the network size (longer side) before preprocessing


class PhotoRunner:
    """Implements `streamer.photo.depth.PhotoDepth` over a loaded DepthModel. Thread-safe."""

    def __init__(self, model: DepthModel, threads: int = 1, max_sessions: int = 2) -> None:
        self._backend = model.fp32_backend  # uploads run the exact network, whatever precision the live one runs
        self._weights_path = model.weights_path
        self.net_size = model.preprocess.net_size
        self.max_input_side = PRESCALE * self.net_size
        self.threads = threads
        self.max_sessions = max_sessions
        self._lock = threading.Lock()  # session cache and creation (an export must not run twice at once)
        self._sessions: OrderedDict[tuple[int, int], object] = OrderedDict()

    def depth(self, bgr: np.ndarray) -> np.ndarray:
        x = Preprocessor(self.net_size)(self.reduce(bgr))  # a fresh one: the worker's reuses its state
        return self._infer(x)  # checked (float32, finite) by the caller's `streamer.photo.depth.photo_depth`

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
                session = ort_session(self._onnx_file(height, width), self.threads, spinning=False)
                self._sessions[key] = session
                while len(self._sessions) > self.max_sessions:  # ~70 MB each: keep the recent sizes only
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            return session

    def _onnx_file(self, height: int, width: int) -> Path:
        return self._backend.onnx_file(height, width)  # a new size is exported in a child process (backends.py)
