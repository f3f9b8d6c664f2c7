"""The model layer: MiDaS v2.1 small, its weights, its preprocessing and its inference backends, behind one object."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from streamer.config.options import opt
from streamer.core.frame import CapturedFrame
from streamer.model.backends import OnnxRuntimeBackend, TorchBackend, choose_backend
from streamer.model.interface import Backend
from streamer.model.layout import check_checkpoint
from streamer.model.precision import REQUESTS, PrecisionState
from streamer.model.preprocess import DECODER_SCALED, MODES, NET_SIZE, STRIDE, Preprocessor, network_size, normalise_rgb
from streamer.model.weights import (
    WEIGHTS_SHA256,
    LoadedWeights,
    WeightsFile,
    cache_dir,
    identify,
    read_state_dict,
    resolve_weights_path,
)

log = logging.getLogger(__name__)
MODEL_NAME = "midas_v21_small_256"


@dataclass(frozen=True)
class ModelOptions:
    weights: str = opt("", "path to midas_v21_small_256.pt; empty: $DEPTH_STREAMER_WEIGHTS, else the file "
                           "`depth-streamer weights fetch` downloads")
    backend: str = opt("auto", "inference backend; auto = onnxruntime on the CPU, torch on CUDA",
                       choices=("auto", "torch", "onnxruntime"))
    device: str = opt("auto", "where torch runs; auto = cuda when available", choices=("auto", "cpu", "cuda"))
    threads: int = opt(0, "intra-op threads for inference; 0 = every core this process may use", min=0, max=256)
    net_size: int = opt(NET_SIZE, "network input size: the longer side, keeping aspect, in multiples of 32",
                        unit="px", min=64, max=1024)
    precision: str = opt("auto", "network precision on the CPU; auto = the fastest low precision that passes the "
                                 "accuracy gate AND beats fp32 when raced on this machine, else fp32", choices=REQUESTS)
    precision_engine: str = opt("auto", "engine for bf16/int8; auto = openvino when installed (bf16 needs it), "
                                        "onnxruntime = int8 on ONNX Runtime, no bf16",
                                choices=("auto", "openvino", "onnxruntime"))
    frames_in_flight: int = opt(0, "frames in the network at once with a bf16/int8 OpenVINO model: 1 = one request "
                                   "on all threads (lowest latency); n = n OpenVINO streams of threads/n each while "
                                   "the frame before is steadied and published (throughput); 0 = auto: 2 for a "
                                   "lossless source (an unpaced file, demo or recording) on 2+ cores, else 1",
                                min=0, max=4)
    openvino_pinning: str = opt("auto", "OpenVINO pins its inference threads to cores: auto = OpenVINO's choice; "
                                        "`bench precision` times on and off on this machine",
                                choices=("auto", "on", "off"))
    max_nmae: float = opt(0.035, "gate: mean NMAE vs fp32 on held-out frames (after scale+shift alignment)",
                          min=0.0, max=1.0)
    max_frame_nmae: float = opt(0.20, "gate: the worst held-out frame's NMAE vs fp32", min=0.0, max=10.0)
    min_corr: float = opt(0.999, "gate: mean correlation with fp32 on held-out frames", min=-1.0, max=1.0)
    calibration_frames: int = opt(32, "real frames int8 calibrates on", min=2, max=1000)
    gate_frames: int = opt(16, "held-out real frames the gate compares on (never calibration frames)", min=2, max=1000)
    calibration_seconds: float = opt(10.0, "spread calibration and gate frames over the source's first seconds",
                                     unit="s", min=0.0, max=3600.0)
    cache_max_mb: int = opt(1024, "size cap of the ONNX export cache; beyond it the least recently used exports are "
                                  "removed (each is ~66 MB; one per weights file and network size)", unit="MB",
                            min=100, max=1_000_000)
    recheck_s: float = opt(300.0, "re-check the low precision against fp32 on live frames this often; 0 = never",
                           unit="s", min=0.0, max=86400.0)
    preprocess: str = opt("auto", "how a frame becomes the network input. auto = the fastest of float32 (the resize "
                                  "in float32), uint8 (the resize on the 8-bit image) and decoder-scaled (the decoder "
                                  "scales the camera's YUV straight to the network size; PyAV sources only) that "
                                  "passes the gate against the exact (float64, official) path and beats it, decided "
                                  "with the precision; float32, uint8 or decoder-scaled = try only that one (gated "
                                  "the same way); exact = always the official one",
                          choices=("auto", *MODES[1:], "exact"))
    precision_cache: bool = opt(True, "keep each gated verdict (and its int8 file) per weights, settings, CPU, "
                                      "engine versions and source; a restart serves it at once, then re-checks it "
                                      "on the first gate_frames live frames")

    def validate(self) -> None:
        if self.net_size % STRIDE:
            raise ValueError(f"net_size = {self.net_size}: must be a multiple of {STRIDE} (e.g. 256, 320, 384)")


class DepthModel:
    """BGR frame in, raw relative inverse depth (network resolution, float32) out."""

    def __init__(self, backend: TorchBackend | OnnxRuntimeBackend, weights: WeightsFile,
                 net_size: int = NET_SIZE) -> None:
        self.fp32_backend = backend  # the exact network, kept when a low precision takes over `backend`
        self.preprocess = Preprocessor(net_size)  # the exact one (the official code's float64 resize)
        # decoder-scaled needs a decoder: a BGR array (a photo, a source that cannot scale) gets the exact path
        self._preprocessors = {"exact": self.preprocess, "float32": Preprocessor(net_size, exact=False),
                               "uint8": Preprocessor(net_size, mode="uint8"), DECODER_SCALED: self.preprocess}
        self.weights_path = weights.path
        self.weights_sha256 = weights.sha256
        self.official_weights = weights.official
        # (backend, state) in one attribute: a reader never sees one precision's backend with another's state.
        self._serving: tuple[Backend, PrecisionState] = (backend, PrecisionState())
        self._switch_generation = 0

    @property
    def backend(self) -> Backend:
        return self._serving[0]

    @property
    def precision(self) -> PrecisionState:
        """What serves and why (read-only; the precision stage alone changes it, through its PrecisionSwitch)."""
        return self._serving[1]

    def precision_switch(self) -> PrecisionSwitch:
        """The one writer of the precision: a new switch (a new stage, after a reload) disables every older one and
        puts fp32 back, so each pipeline decides again on its own source's frames."""
        self._switch_generation += 1
        self._serving = (self.fp32_backend, PrecisionState())
        return PrecisionSwitch(self, self._switch_generation)

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        backend, state = self._serving
        return backend.infer(self._preprocessors[state.preprocess](bgr))

    def predict_frame(self, frame: CapturedFrame) -> np.ndarray:
        """The worker's path: with decoder-scaled serving, the network-size RGB the source's decoder made (its full-size
        BGR is never asked for here); otherwise, or when the source cannot scale, `predict(frame.image)`."""
        backend, state = self._serving
        if state.preprocess == DECODER_SCALED:
            picture = frame.picture
            rgb = picture.scaled_rgb(*self.preprocess.size_for(picture.width, picture.height))
            if rgb is not None:
                return backend.infer(normalise_rgb(rgb))
        return backend.infer(self._preprocessors[state.preprocess](frame.image))

    def scaled_input(self, width: int, height: int) -> tuple[int, int] | None:
        """(net_w, net_h) for a width x height frame while decoder-scaled preprocessing serves, else None."""
        if self._serving[1].preprocess != DECODER_SCALED:
            return None
        return self.preprocess.size_for(width, height)

    def warm_up(self, width: int, height: int, runs: int = 2) -> float:
        """Build the session for this frame size and run it; returns the last run's milliseconds."""
        dummy = np.zeros((height, width, 3), np.uint8)
        ms = 0.0
        for _ in range(runs):
            t0 = time.perf_counter()
            self.predict(dummy)
            ms = (time.perf_counter() - t0) * 1e3
        return ms

    @property
    def meta(self) -> dict:
        backend, state = self._serving
        return {"model": MODEL_NAME, "weights_sha256": self.weights_sha256,
                "weights_official": self.official_weights, **backend.describe(), **state.meta()}


class PrecisionSwitch:
    """The precision stage's handle on the model: the only way to change what serves."""

    def __init__(self, model: DepthModel, generation: int) -> None:
        self._model = model
        self._generation = generation

    def set(self, state: PrecisionState, backend: Backend | None = None) -> None:
        """Serve `state` on `backend` (None: the backend serving now); one attribute store."""
        model = self._model
        if self._generation != model._switch_generation:
            raise RuntimeError("this precision switch was replaced by a newer one (a reload); it may not write")
        model._serving = (model.backend if backend is None else backend, state)

    def update(self, **changes) -> PrecisionState:
        """The serving state with `changes` (same backend); returns it."""
        state = replace(self._model.precision, **changes)
        self.set(state)
        return state


def build_network(weights: LoadedWeights):
    """The torch MidasSmall with `weights` strictly loaded (imports torch and timm, so only when called)."""
    from streamer.model.midas import build_network as build

    return build(weights)


def load_depth_model(options: ModelOptions, weights_path: str | None = None) -> DepthModel:
    """Read and strictly load the weights, then build the configured backend. Raises WeightsError/StreamerError."""
    options.validate()
    path = resolve_weights_path(weights_path, options.weights)
    backend_name, device = choose_backend(options.backend, options.device)
    weights: LoadedWeights | WeightsFile = read_state_dict(path) if backend_name == "torch" else identify(path)
    if not weights.official:
        # Loud on purpose: random or foreign weights give plausible-looking but meaningless depth.
        log.warning("weights %s (sha256 %s) are NOT the official MiDaS v2.1 small file (sha256 %s); depth from "
                    "them is only as good as they are", weights.path, weights.sha256[:16], WEIGHTS_SHA256[:16])
    backend: TorchBackend | OnnxRuntimeBackend
    if backend_name == "torch":
        assert isinstance(weights, LoadedWeights)  # read_state_dict above
        backend = TorchBackend(build_network(weights), device=device, threads=options.threads)
    else:
        backend = OnnxRuntimeBackend(weights.sha256, path, cache_dir() / "onnx", threads=options.threads,
                                     cache_max_bytes=options.cache_max_mb << 20)
        if not backend.verified_before():
            if not weights.official:
                check_checkpoint(path)  # damaged, foreign or NaN weights fail in a second, before the export
            # Strict load now (in the export child), so bad weights fail at start-up rather than at the first frame;
            # the size is the usual 4:3 camera's, which the warm-up then finds in the cache.
            net_w, net_h = network_size(640, 480, options.net_size)
            backend.onnx_file(net_h, net_w)
    return DepthModel(backend, weights, options.net_size)
