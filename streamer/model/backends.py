"""Inference backends: torch (CPU or CUDA) and ONNX Runtime (CPU), both taking 1x3xHxW float32 -> HxW float32.

ONNX Runtime is the CPU default because it runs this network ~2x faster than torch eager here (fused
conv+activation kernels, NCHWc layout); torch stays for CUDA and as the reference. The ONNX file is exported from
the loaded torch model once per input size and cached on disk under a key of everything that shapes it.

With a warm cache the ONNX Runtime path never imports torch or timm: that is ~700 MB of resident memory and ~2.7 s
of start-up a camera box does not spend. The cache key holds the weights' sha256, so a cached export proves those
exact bytes passed the strict load when it was made.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from streamer.core import jsonlimit
from streamer.core.files import atomic_write, file_sha256
from streamer.core.memory import trim
from streamer.errors import StreamerError
from streamer.model.cache import evict_least_recently_used, remove_stale_parts, touch
from streamer.model.export import DYNAMIC, export_in_child, export_network

log = logging.getLogger(__name__)

ONNX_OPSET = 17
# Bump when MidasSmall's forward changes in a way that alters the exported graph: old cache files then never match.
MODEL_REVISION = 1
DEFAULT_CACHE_MAX_BYTES = 1 << 30  # model.cache_max_mb's default: ~15 exports of ~66 MB


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class TorchBackend:
    """torch eval + inference_mode, channels_last; CUDA when `device` is cuda."""

    name = "torch"
    streams = 1

    def __init__(self, model, device: str = "cpu", threads: int = 0) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.threads = threads or default_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)  # process-wide in torch; the worker owns inference anyway
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)

    def infer(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, memory_format=torch.channels_last, non_blocking=True)
            out = self.model(t)
            return out[0].float().cpu().numpy()

    def describe(self) -> dict:
        return {"backend": self.name, "device": str(self.device), "threads": self.threads, "streams": self.streams}


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU; one session per input size, built lazily from the on-disk export cache."""

    name = "onnxruntime"
    streams = 1  # one session; concurrent runs would share its intra-op threads

    def __init__(self, weights_sha256: str, network: Callable[[], object] | str | Path, cache_dir: Path,
                 threads: int = 0, opset: int = ONNX_OPSET, cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES) -> None:
        import onnxruntime  # imported here so the torch-only path does not need it

        self._ort = onnxruntime
        # The weights file: exported (strict load included) in a child process, so this one never imports torch.
        # Or a callable giving the torch network (benchmarks and tests that hold one already): exported here.
        self._source = network
        self._network: object | None = None  # the torch network, built from `network` when it is a callable
        self.weights_sha256 = weights_sha256
        self.cache_dir = Path(cache_dir)
        self.threads = threads or default_threads()
        self.opset = opset
        self.cache_max_bytes = cache_max_bytes
        self._sessions: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()  # the worker and the precision stage (its reference runs) may both build one
        self.exports = 0  # exports run in this process (tests read it to prove cache hits)
        self.child_exports = 0  # exports run in a child process (the daemon's only kind)
        remove_stale_parts(self.cache_dir)

    def cache_key(self, height: int, width: int) -> dict:
        # Versions from package metadata: reading them must not import torch.
        return {"model": "midas_v21_small", "revision": MODEL_REVISION, "weights_sha256": self.weights_sha256,
                "input": [1, 3, height, width], "opset": self.opset, "torch": package_version("torch"),
                "onnx": package_version("onnx"), "onnxruntime": self._ort.__version__}


    def verified_before(self) -> bool:
        """Whether an export of these exact weights exists: they passed the strict load when it was made."""
        for sidecar in self.cache_dir.glob("midas_small_*.json"):
            try:
                key = jsonlimit.load_object(sidecar, what=str(sidecar)).get("key", {})
            except (OSError, ValueError):
                continue
            if key.get("weights_sha256") == self.weights_sha256 and key.get("revision") == MODEL_REVISION:
                return True
        return False

    def cache_path(self, height: int, width: int) -> Path:
        key = json.dumps(self.cache_key(height, width), sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        size = "dynamic" if (height, width) == (DYNAMIC, DYNAMIC) else f"{height}x{width}"
        return self.cache_dir / f"midas_small_{size}_{digest}.onnx"

    def onnx_file(self, height: int, width: int) -> Path:
        """The cached export for this size, exporting it first if it is absent or damaged."""
        path = self.cache_path(height, width)
        if self._cached(path, height, width):
            touch(path)  # "recently used": the cache cap removes the least recently used first
            return path
        if path.is_file():
            log.warning("ONNX export cache %s is damaged; exporting again", path)
        self._export(path, height, width)
        return path

    def _cached(self, path: Path, height: int, width: int) -> bool:
        sidecar = path.with_suffix(".json")
        if not (path.is_file() and sidecar.is_file()):
            return False
        try:
            meta = jsonlimit.load_object(sidecar, what=str(sidecar))
            return meta.get("key") == self.cache_key(height, width) and meta.get("sha256") == file_sha256(path)
        except (OSError, ValueError):
            return False

    def _export(self, path: Path, height: int, width: int) -> None:
        """Export this size; a child's export also makes the dynamic-size graph (photo uploads) when it is missing:
        the child's torch import is most of an export's cost, so one child does both."""
        targets = [(path, height, width)]
        dynamic = self.cache_path(DYNAMIC, DYNAMIC)
        if not callable(self._source) and height != DYNAMIC and not self._cached(dynamic, DYNAMIC, DYNAMIC):
            targets.append((dynamic, DYNAMIC, DYNAMIC))
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("exporting the network to ONNX for %s (once per weights, size and library versions)",
                 " and ".join("every input size" if h == DYNAMIC else f"{w}x{h}" for _, h, w in targets))
        temps = []
        try:
            for target, _, _ in targets:
                # The pid in the name tells the next start whose it is: a .part whose writer is gone is removed then.
                fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}.", suffix=".onnx.part",
                                           dir=target.parent)
                os.close(fd)
                temps.append(tmp)
            if callable(self._source):
                if self._network is None:
                    self._network = self._source()
                export_network(self._network, temps[0], height, width, self.opset)
                self.exports += 1
            else:
                export_in_child(self._source, [(t, h, w) for t, (_, h, w) in zip(temps, targets, strict=True)],
                                self.opset)
                self.child_exports += 1
            for tmp, (target, h, w) in zip(temps, targets, strict=True):
                os.replace(tmp, target)
                meta = {"key": self.cache_key(h, w), "sha256": file_sha256(target)}
                atomic_write(target.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True))
        finally:
            for tmp in temps:
                Path(tmp).unlink(missing_ok=True)
        evict_least_recently_used(self.cache_dir, self.cache_max_bytes, keep=path)

    def session(self, height: int, width: int):
        key = (height, width)
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._lock:
            if key not in self._sessions:
                path = self.onnx_file(height, width)
                try:
                    self._sessions[key] = ort_session(path, self.threads)
                except Exception as exc:  # a file that passed the checksum but ORT rejects: re-export once
                    log.warning("ONNX Runtime rejected %s (%s); exporting again", path, exc)
                    self._export(path, height, width)
                    self._sessions[key] = ort_session(path, self.threads)
            return self._sessions[key]

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    def release(self) -> None:
        """Drop every session (~95 MB each at 256x192: the optimised graph, its weights, its arena) while another
        backend serves; the next infer builds its size again (about a second). A run in progress keeps its own
        reference to the session and finishes."""
        with self._lock:
            released, self._sessions = len(self._sessions), {}
        if released:
            log.info("fp32: released %d ONNX Runtime session(s) while another backend serves (rebuilt when needed)",
                     released)

    def infer(self, x: np.ndarray) -> np.ndarray:
        session = self.session(x.shape[2], x.shape[3])
        return session.run(None, {"image": x})[0][0]

    def describe(self) -> dict:
        return {"backend": self.name, "device": "cpu", "threads": self.threads, "streams": self.streams}


# Whether the serving sessions' intra-op threads spin between runs (ONNX Runtime's default): the lowest latency for
# the daemon's network call. A batch worker turns it off for its process (`serve_without_spinning`): its decoder and
# H.264 encoder threads need the cores between network runs, and spinning threads took them (a video unit on 2
# cores, Zen 4: 22.3 fps and 88 CPU-ms a frame spinning, 23.8-24.7 fps and 75-78 CPU-ms without).
_SPIN = {"serving": True}


def serve_without_spinning() -> None:
    """This process's sessions from now on never spin between runs (batch workers: see _SPIN)."""
    _SPIN["serving"] = False


def ort_session(path: str | Path, threads: int, spinning: bool | None = None, arena: bool = True):
    """An ONNX Runtime CPU session: `threads` intra-op threads, sequential, every graph optimisation. `spinning` off
    for sessions that must never hold a core while they wait (uploads beside the live worker); None: the process's
    serving policy (_SPIN). `arena` off for sessions that see many input sizes (uploads), whose arena would otherwise
    keep the largest size's buffers and grow with every new one."""
    import onnxruntime as ort

    if spinning is None:
        spinning = _SPIN["serving"]

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not arena:
        opts.enable_cpu_mem_arena = False
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    trim()  # loading and optimising the graph freed ~70 MB (its protobuf, the optimiser's copies) that malloc keeps
    return session


def cuda_available() -> bool:
    # No NVIDIA device node means no CUDA, and we can say so without importing torch (~0.5 GB, ~1 s).
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        return False
    import torch

    return torch.cuda.is_available()


def choose_backend(backend: str, device: str) -> tuple[str, str]:
    """Resolve "auto": ONNX Runtime on the CPU, torch on CUDA. Returns (backend, device)."""
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    if device.startswith("cuda") and not cuda_available():
        raise StreamerError(f"model.device = {device!r} but torch sees no CUDA device "
                            f"(torch {package_version('torch')}); set model.device = \"cpu\"")
    if backend == "auto":
        backend = "torch" if device.startswith("cuda") else "onnxruntime"
    if backend == "onnxruntime" and device != "cpu":
        raise StreamerError(f"the onnxruntime backend runs on the CPU only; with model.device = {device!r} "
                            f"set model.backend = \"torch\" (or \"auto\")")
    return backend, device


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"
