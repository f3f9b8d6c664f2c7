"""PhotoRunner: depth of uploaded photos beside the live inference worker, sharing its weights, not its buffers.

The live worker's `DepthModel.predict` reuses one Preprocessor and runs the backend at the configured thread count;
an upload must neither race that nor take the cores from it. So each photo gets its own preprocessing, and on ONNX
Runtime its own sessions (from the same on-disk export cache) with `threads` intra-op threads and no spinning; the
torch backend is shared as is (its forward pass is reentrant). Photos much larger than the network input are first
reduced with area averaging in uint8: the official float64 cubic resize of a 12 MP photo would need ~300 MB and a
second of CPU, to feed a 256-pixel network.

On ONNX Runtime every photo runs on one graph exported with dynamic height and width, at its own exact network size
(the official preprocessing, no padding, no stretching): one export for all uploads, whatever aspect a visitor
invents, instead of one per shape (each ~66 MB and a minute of CPU on a busy box). Its session runs without a memory
arena, so its memory follows the photo in hand rather than the largest one seen. The export runs in a child process
(which inherits the upload thread's niceness), so the daemon never imports torch for it (~0.9 GB for life).
Padding or stretching photos to a few fixed shapes was measured instead and refused: 6-77 % NMAE against the exact
shape on real photos with the trained weights (README, "Uploads").
"""
from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from streamer.core.memory import trim
from streamer.model import DepthModel
from streamer.model.backends import ort_session
from streamer.model.export import DYNAMIC
from streamer.model.interface import OnnxExport
from streamer.model.preprocess import Preprocessor

log = logging.getLogger(__name__)
PRESCALE = 4  # photos are reduced to at most this many times the network size (longer side) before preprocessing


class PhotoRunner:
    """Implements `streamer.photo.depth.PhotoDepth` over a loaded DepthModel. Thread-safe."""

    def __init__(self, model: DepthModel, threads: int = 1, keep_s: float = 60.0) -> None:
        """`keep_s`: the session is released this long after the last photo (http.upload_keep_s)."""
        self._backend = model.fp32_backend  # uploads run the exact network, whatever precision the live one runs
        self._weights_path = model.weights_path
        self.net_size = model.preprocess.net_size
        self.max_input_side = PRESCALE * self.net_size
        self.threads = threads
        self._lock = threading.Lock()
        self._dynamic = None  # the ONNX Runtime session of the dynamic-size export, built by the first photo
        self.keep_s = keep_s
        self._release_timer: threading.Timer | None = None

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
        backend = self._backend
        if not isinstance(backend, OnnxExport):  # torch: one shared module, called reentrantly
            return backend.infer(x)
        try:
            return self._session(backend).run(None, {"image": x})[0][0]
        finally:
            self._release_later()

    def _release_later(self) -> None:
        with self._lock:
            if self._release_timer is not None:
                self._release_timer.cancel()
            self._release_timer = threading.Timer(self.keep_s, self.release)
            self._release_timer.name = "uploads-release"
            self._release_timer.daemon = True
            self._release_timer.start()

    def release(self) -> None:
        """Drop the uploads' session (a photo computing now keeps its own reference and finishes)."""
        with self._lock:
            if self._dynamic is None:
                return
            self._dynamic = None
        trim()
        log.info("uploads: the photo network's session is released (%g s without a photo)", self.keep_s)

    def prepare(self) -> None:
        """Make sure the uploads' graph is in the export cache (exporting it if missing) now, at start-up and at
        full priority, rather than at the first photo at `upload_nice` behind the live stream (minutes on a busy
        box). Its session (~65 MB) is not built here: most daemons never get a photo, so the first photo builds it
        (about a second of that visitor's wait), and it is released `keep_s` after the last photo."""
        backend = self._backend
        if isinstance(backend, OnnxExport):
            with self._lock:
                backend.onnx_file(DYNAMIC, DYNAMIC)  # a cache hit: its checksum, no session

    @property
    def loaded(self) -> bool:
        """Whether the uploads' session exists (built by the first photo)."""
        return self._dynamic is not None

    def _session(self, backend: OnnxExport):
        with self._lock:  # the export must not run twice at once
            if self._dynamic is None:
                path = backend.onnx_file(DYNAMIC, DYNAMIC)  # exported once (child process), then cached
                self._dynamic = ort_session(path, self.threads, spinning=False, arena=False)
                log.info("uploads: the photo network's session is built (a photo came; released %g s after the "
                         "last one)", self.keep_s)
            return self._dynamic
