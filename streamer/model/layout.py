"""A checkpoint's tensor layout (names, shapes) and the finiteness of its values, read without torch.

`torch.save` writes a zip archive: `*/data.pkl` pickles the state dict with tensors as references to raw storages
under `*/data/<key>`. A restricted unpickler that knows only those few globals gives every key's shape, and numpy
reads the float storages for NaN/Inf, in well under a second and without importing torch (seconds, ~700 MB). So a
damaged, foreign or NaN checkpoint fails before the daemon opens a port or starts an export. The legacy (pre-1.6)
pickle format is not read here: `None`, and the strict torch load decides.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.errors import WeightsError

LAYOUT_FILE = Path(__file__).with_name("midas_small_layout.json")  # key -> shape of MidasSmall's state dict
CHECKPOINT_NAME = "midas_v21_small_256.pt"  # the official file's name, as users know the network
FLOAT_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16}


@dataclass(frozen=True)
class TensorRef:
    storage: tuple[str, str]  # (storage type, key inside the archive's data/ folder)
    shape: tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, *rest) -> TensorRef:
    return TensorRef(storage, tuple(int(s) for s in size))


def _rebuild_parameter(tensor, *rest) -> TensorRef:
    return tensor


class _Unpickler(pickle.Unpickler):
    GLOBALS = {("collections", "OrderedDict"): OrderedDict, ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
               ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}

    def find_class(self, module: str, name: str):
        if module == "torch" and name.endswith("Storage"):
            return name
        if (module, name) in self.GLOBALS:
            return self.GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain state dict")

    def persistent_load(self, pid):  # ('storage', storage type, key, location, numel)
        return (str(pid[1]), str(pid[2]))


def expected_layout() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in json.loads(LAYOUT_FILE.read_text()).items()}


def read_layout(path: Path) -> tuple[dict[str, TensorRef], zipfile.ZipFile] | None:
    """(key -> TensorRef, the open archive) of a zip checkpoint; None for the legacy format; WeightsError if damaged."""
    try:
        archive = zipfile.ZipFile(path)
        pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise zipfile.BadZipFile("no data.pkl in the archive")
        obj = _Unpickler(archive.open(pkl)).load()
    except zipfile.BadZipFile as exc:
        if not zipfile.is_zipfile(path) and path.open("rb").read(1) == b"\x80":
            return None  # the legacy pickle format: torch decides
        raise WeightsError(f"cannot read weights file {path}: not a PyTorch checkpoint, or truncated/corrupt "
                           f"({exc}). Delete it and run `depth-streamer weights fetch` (or `depth-streamer weights "
                           f"verify {path}` to compare its sha256)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise WeightsError(f"weights file {path} is not a plain state dict of tensors ({exc})") from None
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, TensorRef) for v in obj.values()):
        raise WeightsError(f"weights file {path} holds a {type(obj).__name__}, not a state dict of tensors")
    return {str(k): v for k, v in obj.items()}, archive


def layout_problems(given: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> list[str]:
    """What keeps `given` (key -> shape) from loading strictly into `expected`, in words; [] when it loads."""
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    mis_shaped = [f"{k}: file {tuple(given[k])} vs model {tuple(expected[k])}"
                  for k in expected if k in given and tuple(given[k]) != tuple(expected[k])]
    return [f"{len(keys)} {label} (first: {', '.join(keys[:3])})"
            for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                ("shape mismatches", mis_shaped)) if keys]


def not_midas_small(path: Path, problems: list[str]) -> WeightsError:
    return WeightsError(f"weights file {path} is not a MiDaS v2.1 small ({CHECKPOINT_NAME}) checkpoint: "
                        + "; ".join(problems))


def check_checkpoint(path: Path) -> bool:
    """Raise WeightsError if the zip checkpoint at `path` is damaged, is not MidasSmall's layout, or holds NaN/Inf.
    True when checked; False for a legacy-format file this cannot read (the strict torch load must decide)."""
    read = read_layout(path)
    if read is None:
        return False
    tensors, archive = read
    with archive:
        problems = layout_problems({k: v.shape for k, v in tensors.items()}, expected_layout())
        if problems:
            raise not_midas_small(path, problems)
        prefix = next(n for n in archive.namelist() if n.endswith("data.pkl"))[: -len("data.pkl")]
        storages = {ref.storage: name for name, ref in tensors.items()}
        for (kind, key), name in storages.items():
            dtype = FLOAT_STORAGES.get(kind)
            if dtype is None:
                continue
            try:
                values = np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dtype)
            except (KeyError, zipfile.BadZipFile, ValueError) as exc:
                raise WeightsError(f"cannot read weights file {path}: tensor {name} is truncated/corrupt ({exc})")\
                    from None
            if not np.isfinite(values).all():
                bad = int(np.count_nonzero(~np.isfinite(values)))
                raise WeightsError(f"weights file {path}: tensor {name} holds {bad} NaN/Inf values; the network "
                                   f"would output NaN. Use another checkpoint (`depth-streamer weights fetch`)")
    return True
