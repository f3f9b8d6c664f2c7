"""File helpers every cache and download shares: content digests and atomic writes."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (weights are ~80 MB; never hold them twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write via a temporary file in the same folder and rename it over `path`: readers see old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            os.fchmod(f.fileno(), 0o666 & ~umask())  # mkstemp makes 0600: the file gets what open() would give
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def umask() -> int:
    """The process's umask, read without changing it (/proc on Linux; elsewhere set and put back at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def writable_folder(folder: str | Path, what: str) -> Path:
    """Create `folder` if needed and prove a file can be written in it, before any heavy work; StreamerError naming
    `what` (e.g. "--output-dir") and the folder otherwise. Returns the folder."""
    from streamer.errors import StreamerError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StreamerError(f"{what} {folder} is a file, not a folder; name a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StreamerError(f"cannot write to {what} {folder}: {exc.strerror or exc}") from None
    return folder


def writable_file(path: str | Path, what: str) -> Path:
    """`path` can be written (its folder is created and takes a file, and it is no folder itself); StreamerError
    naming `what` (e.g. "--out") and the path otherwise. Nothing is left behind but the folder."""
    from streamer.errors import StreamerError

    path = Path(path)
    if path.is_dir():
        raise StreamerError(f"{what} {path} is a folder; name a file")
    try:
        writable_folder(path.parent, what)
    except StreamerError as exc:
        raise StreamerError(f"{what} {path}: {exc}") from None
    return path
