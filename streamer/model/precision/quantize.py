"""int8 by static quantisation of the cached fp32 ONNX export (ONNX Runtime tooling, QDQ format).

Settings chosen by measurement on trained weights and held-out real frames (README.md, "Precision"): per-channel
symmetric int8 weights, asymmetric uint8 activations (u8s8: the VNNI/AMX kernels' native form; s8 activations ran
2x slower in ONNX Runtime and were no more accurate), MinMax calibration (Percentile and Entropy were no better on
photos); reduce_range only where cpu.py asks for it (no VNNI/AMX on x86: VPMADDUBSW saturates; with VNNI it doubled
the error). Kept in float: the backbone's first stage (stride 2-4 convs and their residual adds: 22 nodes, the
largest accuracy win, 6.5 % -> 2.6 % NMAE) and the last 1x1 conv + ReLU (the output stays float instead of 256
levels over a 0-12000 range).

The file is cached next to the fp32 export, keyed by the fp32 export's key, the calibration frames' digest and
these settings. Nothing here imports torch; the quantiser runs in a child process.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from streamer.core import jsonlimit
from streamer.core.files import atomic_write, file_sha256
from streamer.errors import StreamerError
from streamer.model.backends import package_version
from streamer.model.export import die_with_parent, run_child

log = logging.getLogger(__name__)
MAX_INT8_FILES = 4  # per fp32 export: one per calibration set (source) still in use
QUANTIZE_TIMEOUT_S = 600.0  # tens of seconds on a busy 2-core box
STAGE1_PREFIX = "/layer1/"  # the exporter's scope name for pretrained.layer1 (stem + blocks 0-1)


@dataclass(frozen=True)
class QuantSettings:
    activation: str = "QUInt8"
    weight: str = "QInt8"
    per_channel: bool = True
    method: str = "MinMax"  # MinMax | Percentile | Entropy
    reduce_range: bool = False
    keep_float: tuple[str, ...] = ("stage1", "last_conv")  # see float_nodes
    revision: int = 1  # bump when this module changes what it writes


DEFAULT_SETTINGS = QuantSettings()


def float_nodes(model, keep: tuple[str, ...]) -> list[str]:
    """Names of the nodes to leave in float. `stage1`: every node of the backbone's first stage; `last_conv`: the
    last Conv before the graph output and what follows it; `first_conv`: the first Conv."""
    nodes = list(model.graph.node)
    names: list[str] = []
    if "stage1" in keep:
        stage1 = [n.name for n in nodes if n.name.startswith(STAGE1_PREFIX)]
        if not stage1:
            raise StreamerError(f"quantisation: no node named {STAGE1_PREFIX}* in the export; the exporter's naming "
                                "changed, so the float stage cannot be found (update STAGE1_PREFIX)")
        names += stage1
    convs = [i for i, n in enumerate(nodes) if n.op_type == "Conv"]
    if "first_conv" in keep and convs:
        names.append(nodes[convs[0]].name)
    if "last_conv" in keep and convs:
        names += [n.name for n in nodes[convs[-1]:] if n.op_type not in ("Constant",)]
    return list(dict.fromkeys(names))


def int8_key(fp32_path: Path, calibration_digest: str, settings: QuantSettings) -> dict:
    try:
        fp32_meta = jsonlimit.load_object(fp32_path.with_suffix(".json"), what="the sidecar")
    except (OSError, ValueError) as exc:
        raise StreamerError(f"the fp32 export {fp32_path} has no readable sidecar ({exc}); export it first") from None
    key = {"fp32": fp32_meta.get("key"), "fp32_sha256": fp32_meta.get("sha256"), "calibration": calibration_digest,
           "settings": asdict(settings), "onnxruntime": package_version("onnxruntime")}
    return json.loads(json.dumps(key))  # as the sidecar will read back (tuples become lists)


def int8_path(fp32_path: Path, key: dict) -> Path:
    import hashlib

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return fp32_path.with_name(f"{fp32_path.stem}.int8_{digest}.onnx")


def touch(path: Path) -> None:
    """Mark an int8 file as used now: `prune_int8` removes the least recently used first."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune_int8(fp32_path: Path, keep: Path, max_files: int = MAX_INT8_FILES) -> list[Path]:
    """Keep at most `max_files` int8 files per fp32 export (each calibration set makes one): the least recently used
    go first, `keep` never. A verdict whose file is gone is a cache miss, so nothing breaks, it quantises again."""
    files = []
    for f in Path(fp32_path).parent.glob(f"{Path(fp32_path).stem}.int8_*.onnx"):
        try:
            files.append((f.stat().st_mtime, f))
        except OSError:
            continue
    removed = []
    for _, f in sorted(x for x in files if x[1] != keep)[:max(0, len(files) - max_files)]:
        f.unlink(missing_ok=True)
        f.with_suffix(".json").unlink(missing_ok=True)
        removed.append(f)
    if removed:
        log.info("int8 cache: removed %d least recently used file(s) of %s", len(removed), Path(fp32_path).name)
    return removed


def cached_int8(fp32_path: Path, key: dict) -> Path | None:
    path = int8_path(fp32_path, key)
    try:
        meta = jsonlimit.load_object(path.with_suffix(".json"), what="the int8 sidecar")
        if meta.get("key") == key and meta.get("sha256") == file_sha256(path):
            touch(path)
            return path
    except (OSError, ValueError):
        pass
    if path.exists():
        log.warning("int8 cache %s is damaged; quantising again", path)
    return None


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader over preprocessed real frames."""

    def __init__(self, inputs: list[np.ndarray], name: str) -> None:
        self._it = iter(inputs)
        self._name = name

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self._name: x}

    def rewind(self):  # some calibrators call it; one pass is all MinMax needs
        pass


def int8_file(fp32_path: Path, calibration_inputs: Callable[[], list[np.ndarray]], calibration_digest: str,
              settings: QuantSettings = DEFAULT_SETTINGS) -> tuple[Path, bool]:
    """The cached int8 QDQ model for this fp32 export and calibration set; (path, whether it was built now)."""
    fp32_path = Path(fp32_path)
    key = int8_key(fp32_path, calibration_digest, settings)
    hit = cached_int8(fp32_path, key)
    if hit is not None:
        return hit, False
    path = int8_path(fp32_path, key)
    inputs = calibration_inputs()
    if not inputs:
        raise StreamerError("int8 quantisation needs calibration frames; none were given")
    _quantize(fp32_path, path, inputs, settings)
    atomic_write(path.with_suffix(".json"), json.dumps({"key": key, "sha256": file_sha256(path),
                                                          "calibration_frames": len(inputs)}, indent=1,
                                                         sort_keys=True))
    prune_int8(fp32_path, keep=path)
    return path, True


def _quantize(src: Path, dst: Path, inputs: list[np.ndarray], settings: QuantSettings) -> None:
    """Quantise in a child process: ONNX Runtime's calibrator holds every intermediate tensor of every frame (the
    daemon's RSS went +520 MB at the peak, and +40 MB of imports stayed with it for good)."""
    log.info("quantising %s to int8 on %d real frames (%s)", src.name, len(inputs), settings)
    with tempfile.TemporaryDirectory(prefix=f".quant.{os.getpid()}.", dir=dst.parent) as tmp:  # pid: see cache.py
        frames = Path(tmp) / "inputs.npy"
        np.save(frames, np.concatenate(inputs))
        args = [str(src), tmp, json.dumps(asdict(settings)), str(os.getpid())]
        code, kept, message = run_child("streamer.model.precision.quantize", args, QUANTIZE_TIMEOUT_S,
                                        "the int8 quantisation")
        if code != 0:
            raise StreamerError(f"the int8 quantisation failed: {message}")
        os.replace(Path(tmp) / "int8.onnx", dst)
    log.info("int8 model cached at %s (%s nodes kept in float)", dst, kept.strip().splitlines()[-1])


def quantize_here(src: Path, work: Path, inputs: list[np.ndarray], settings: QuantSettings) -> int:
    """The child's work: `work`/int8.onnx from `src`, calibrated on `inputs`; returns the nodes kept in float."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    pre = work / "pre.onnx"
    # Shape inference + constant folding (the TF-"same" padding arithmetic folds away) before quantising.
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    model = onnx.load(str(pre))
    exclude = float_nodes(model, settings.keep_float)
    input_name = model.graph.input[0].name
    del model
    quantize_static(str(pre), str(work / "int8.onnx"), _Reader(inputs, input_name), quant_format=QuantFormat.QDQ,
                    per_channel=settings.per_channel, activation_type=getattr(QuantType, settings.activation),
                    weight_type=getattr(QuantType, settings.weight), reduce_range=settings.reduce_range,
                    calibrate_method=getattr(CalibrationMethod, settings.method), nodes_to_exclude=exclude)
    return len(exclude)


def main(argv: list[str]) -> int:
    """argv: SRC WORK SETTINGS_JSON PARENT_PID; the calibration inputs are in WORK/inputs.npy (N x 3 x H x W)."""
    src, work, settings, parent = argv
    if not die_with_parent(int(parent)):
        return 1
    batch = np.load(Path(work) / "inputs.npy")
    fields = json.loads(settings)
    fields["keep_float"] = tuple(fields["keep_float"])
    kept = quantize_here(Path(src), Path(work), [batch[i:i + 1] for i in range(len(batch))], QuantSettings(**fields))
    print(kept)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
