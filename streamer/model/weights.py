"""The official MiDaS v2.1 small weights: where they live, how they are fetched and verified, how they load.

Loading is strict on purpose: a daemon that quietly ran on a half-loaded or random network would publish
plausible-looking garbage for months. Every failure names the file and says what to do.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamer.core.files import file_sha256
from streamer.errors import WeightsError
from streamer.model.layout import CHECKPOINT_NAME, layout_problems, not_midas_small

WEIGHTS_NAME = CHECKPOINT_NAME
WEIGHTS_URL = "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt"
WEIGHTS_SHA256 = "70d6b9c891758c67f974a6097fb0c608c7ee67fb81ac3e5588847d5596d56fca"
WEIGHTS_ENV = "DEPTH_STREAMER_WEIGHTS"  # a path that overrides the config key (the CLI flag overrides both)
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where derived files (the ONNX export cache) go: systemd's CacheDirectory=, else XDG cache."""
    if os.environ.get("DEPTH_STREAMER_CACHE"):
        return Path(os.environ["DEPTH_STREAMER_CACHE"])
    if os.environ.get("CACHE_DIRECTORY"):  # set by systemd for CacheDirectory=; may list several, take the first
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "depth-streamer"


def weights_dir() -> Path:
    """Where fetched weights go: systemd's StateDirectory= (they are precious: large, fetched once), else the cache."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    return cache_dir()


def default_weights_path() -> Path:
    return weights_dir() / WEIGHTS_NAME


def resolve_weights_path(cli: str | os.PathLike | None = None, config: str | os.PathLike | None = None) -> Path:
    """CLI flag, then $DEPTH_STREAMER_WEIGHTS, then the config key, then the default download location."""
    for candidate in (cli, os.environ.get(WEIGHTS_ENV), config):
        if candidate is not None and str(candidate) != "":
            return Path(candidate).expanduser()
    return default_weights_path()



def _not_found(path: Path) -> WeightsError:
    return WeightsError(f"weights file not found: {path}. Run `depth-streamer weights fetch`, or {how_to_place(path)}")


def how_to_place(path: Path) -> str:
    return (f"download {WEIGHTS_URL} on a machine with internet access and copy it to {path} "
            f"(sha256 {WEIGHTS_SHA256}), or point --weights / ${WEIGHTS_ENV} / model.weights at a copy")


@dataclass(frozen=True)
class WeightsFile:
    """A weights file we have checked exists and hashed, without reading it as a checkpoint (no torch needed)."""

    path: Path
    sha256: str

    @property
    def official(self) -> bool:
        return self.sha256 == WEIGHTS_SHA256


@dataclass(frozen=True)
class LoadedWeights(WeightsFile):
    state_dict: dict  # key -> torch.Tensor


def identify(path: str | os.PathLike | None) -> WeightsFile:
    """Check that `path` names a non-empty file and hash it; raises WeightsError saying what to do."""
    if path is None or str(path).strip() == "":
        raise WeightsError("no weights path given: pass --weights PATH, set $DEPTH_STREAMER_WEIGHTS or model.weights, "
                           "or run `depth-streamer weights fetch`")
    path = Path(path).expanduser()
    if not path.exists():
        raise _not_found(path)
    if not path.is_file():
        raise WeightsError(f"weights path is not a file: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights file is empty: {path}. Delete it and run `depth-streamer weights fetch`")
    return WeightsFile(path=path, sha256=file_sha256(path))


def read_state_dict(path: str | os.PathLike | None) -> LoadedWeights:
    """Read a checkpoint (a state dict, or one wrapped as {"model": ...} / {"state_dict": ...}) safely."""
    import torch

    file = identify(path)
    path = file.path
    try:
        # weights_only=True: a checkpoint is data; never let a downloaded file run code while unpickling.
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... depending on the damage
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read weights file {path}: not a PyTorch checkpoint, or truncated/corrupt "
                           f"({type(exc).__name__}: {first_line}). Delete it and run `depth-streamer weights fetch` "
                           f"(or `depth-streamer weights verify {path}` to compare its sha256)") from None
    state = _unwrap(obj, path)
    return LoadedWeights(path=path, sha256=file.sha256, state_dict=state)


def _unwrap(obj: object, path: Path) -> dict:
    import torch

    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"weights file {path} holds a {type(obj).__name__}, not a state dict of tensors")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(f"weights file {path} is not a plain state dict: entries that are not tensors: "
                           f"{', '.join(map(str, not_tensors[:5]))}")
    return dict(obj)


def load_into(model, weights: LoadedWeights) -> None:
    """Load strictly: every key present with the right shape; `num_batches_tracked` may be absent (unused in eval)."""
    expected = model.state_dict()
    given = weights.state_dict
    problems = layout_problems({k: tuple(v.shape) for k, v in given.items()},
                               {k: tuple(v.shape) for k, v in expected.items()})
    if problems:
        raise not_midas_small(weights.path, problems)
    full = {k: given.get(k, v) for k, v in expected.items()}
    model.load_state_dict(full, strict=True)


def verify(path: str | os.PathLike) -> str:
    """Raise WeightsError unless `path` is the official file; returns its sha256."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise _not_found(path)
    digest = file_sha256(path)
    if digest != WEIGHTS_SHA256:
        raise WeightsError(f"{path} has sha256 {digest}, not the official {WEIGHTS_SHA256}: the file is corrupt, "
                           f"truncated or a different model. Delete it and run `depth-streamer weights fetch`")
    return digest


def fetch(dest: str | os.PathLike | None = None, url: str = WEIGHTS_URL, sha256: str = WEIGHTS_SHA256,
          timeout: float = 15.0, progress: bool | None = None) -> Path:
    """Download `url` to `dest`, verify its sha256, and only then move it into place (temp file + rename).

    An interrupted or corrupt download never leaves a file at `dest`. An existing verified file is kept as is.
    """
    dest = Path(dest).expanduser() if dest else default_weights_path()
    if dest.is_file() and file_sha256(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise WeightsError(f"cannot download {url}: {reason}. If this machine is offline, "
                                   f"{how_to_place(dest)}") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                done, last = 0, 0.0
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, urllib.error.URLError) as exc:
                        raise WeightsError(f"download of {url} broke off after {done} bytes ({exc}); "
                                           f"nothing was written to {dest}. Run the command again") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    last = _progress(show, done, total, last)
            if show:
                print(file=sys.stderr)
            if total and done != total:
                raise WeightsError(f"download of {url} ended after {done} of {total} bytes; nothing was written to "
                                   f"{dest}. Run the command again")
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise WeightsError(f"downloaded {url} but its sha256 is {digest.hexdigest()}, expected {sha256}; "
                               f"nothing was written to {dest}")
        os.replace(tmp, dest)  # atomic on one filesystem: readers see the old state or the whole verified file
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _progress(show: bool, done: int, total: int, last: float) -> float:
    now = time.monotonic()
    if not show or now - last < 0.1:
        return last
    if total:
        filled = int(30 * done / total)
        print(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done / 1e6:6.1f}/{total / 1e6:.1f} MB", end="",
              file=sys.stderr, flush=True)
    else:
        print(f"\r  {done / 1e6:6.1f} MB", end="", file=sys.stderr, flush=True)
    return now
