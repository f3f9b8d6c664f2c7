"""The model layer: MiDaS v2.1 small, its weights, its preprocessing and its inference backends, behind one object."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from streamer.config.options import opt
from streamer.errors import NonFiniteOutput
from streamer.model.backends import OnnxRuntimeBackend, TorchBackend, choose_backend
from streamer.model.layout import check_checkpoint
from streamer.model.preprocess import NET_SIZE, STRIDE, Preprocessor, network_size
from streamer.model.weights import (WEIGHTS_SHA256, LoadedWeights, WeightsFile, cache_dir, identify,
                                    read_state_dict, resolve_weights_path)

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
    precision: str = opt("auto", "network precision on the CPU; auto = the fastest this CPU runs natively (int8 with "
                                 "VNNI/AMX, bf16 with AVX512_BF16/AMX) that passes the accuracy gate, else fp32",
                         choices=("auto", "fp32", "bf16", "int8"))
    precision_engine: str = opt("auto", "engine for bf16/int8; auto = openvino when installed (bf16 needs it)",
                                choices=("auto", "openvino", "onnxruntime"))
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

    def validate(self) -> None:
        if self.net_size % STRIDE:
            raise ValueError(f"net_size = {self.net_size}: must be a multiple of {STRIDE} (e.g. 256, 320, 384)")


class DepthModel:
    """BGR frame in, raw relative inverse depth (network resolution, float32) out."""

    def __init__(self, backend: TorchBackend | OnnxRuntimeBackend, weights: WeightsFile,
                 net_size: int = NET_SIZE) -> None:
        self.backend = backend
        self.fp32_backend = backend  # the exact network, kept when a low precision takes over `backend`
        self.preprocess = Preprocessor(net_size)
        self.weights_path = weights.path
        self.weights_sha256 = weights.sha256
        self.official_weights = weights.official
        self.precision = "fp32"
        self.precision_error: dict | None = None  # the last gate result of the serving precision
        self.precision_pending = False  # a low precision is being chosen (the daemon publishes fp32 meanwhile)
        self.precision_reason = ""  # why this precision, in words (the gate's figures)

    def use_backend(self, backend, precision: str, gate=None) -> None:
        """Switch to another backend (one attribute store: a predict() in flight finishes on the old one)."""
        self.precision = precision
        self.precision_error = gate.as_dict() if gate is not None else None
        self.backend = backend

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        return self.backend.infer(self.preprocess(bgr))

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
        return {"model": MODEL_NAME, "weights_sha256": self.weights_sha256,
                "weights_official": self.official_weights, **self.backend.describe(), "precision": self.precision,
                "precision_pending": self.precision_pending, "precision_reason": self.precision_reason,
                **({"precision_error": self.precision_error} if self.precision_error else {})}


def require_finite(raw: np.ndarray, what: str) -> np.ndarray:
    """`raw` if every value is finite; NonFiniteOutput naming `what` otherwise (NaN depth is never a result)."""
    if not np.isfinite(raw).all():
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        raise NonFiniteOutput(f"model output not finite on {what}: {bad} of {raw.size} values NaN or inf (broken "
                              f"weights? `depth-streamer run --check` tests them)")
    return raw


def build_network(weights: LoadedWeights):
    """The torch MidasSmall with `weights` strictly loaded (imports torch and timm, so only when called)."""
    from streamer.model.midas import build_network as build

    return build(weights)


def load_depth_model(options: ModelOptions, weights_path: str | None = None) -> DepthModel:
    """Read and strictly load the weights, then build the configured backend. Raises WeightsError/StreamerError."""
    options.validate()
    path = resolve_weights_path(weights_path, options.weights)
    backend_name, device = choose_backend(options.backend, options.device)
    weights = read_state_dict(path) if backend_name == "torch" else identify(path)
    if not weights.official:
        # Loud on purpose: random or foreign weights give plausible-looking but meaningless depth.
        log.warning("weights %s (sha256 %s) are NOT the official MiDaS v2.1 small file (sha256 %s); depth from "
                    "them is only as good as they are", weights.path, weights.sha256[:16], WEIGHTS_SHA256[:16])
    if backend_name == "torch":
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
