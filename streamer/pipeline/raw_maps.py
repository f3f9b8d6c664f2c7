"""A video's raw network maps on disk as they come, never all in memory: `NAME.depth.npz` (`depth`, N x H x W
float32, and `pts`, N float64 seconds: what `np.load` reads, as `np.savez` wrote it before) for a video of any
length in one frame's memory.

`RawMapsWriter` appends each map to a spill file beside the output and, when the video is whole, writes the npz from
it in blocks (the .npy header needs N, which is known only at the end); the batch driver's stitch (`join_raw_maps`)
copies its parts' arrays into one file the same way. The zip entries carry a fixed date, so the same maps give the
same bytes (a Ray run's files equal a local run's). Written under a temporary name and renamed when whole.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import numpy.lib.format as npy

from streamer.errors import StreamerError

BLOCK = 4 << 20  # bytes copied at a time
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the zip format's first date: no clock in the bytes
DTYPE = np.dtype("<f4")


class RawMapsWriter:
    """`add(map, pts)` per frame, then `close()` writes `dest`; leaving a `with` block by an exception (or
    `discard()`) leaves nothing behind."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._spill_path = dest.with_name(f".{dest.name}.maps-{os.getpid()}")
        try:
            self._spill: IO[bytes] | None = open(self._spill_path, "wb")  # closed by close() or discard()
        except OSError as exc:
            raise StreamerError(f"cannot write {dest}: {exc.strerror or exc}") from None
        self._shape: tuple[int, ...] | None = None
        self._pts: list[float] = []

    def add(self, depth: np.ndarray, pts: float) -> None:
        assert self._spill is not None, "closed"
        m = np.ascontiguousarray(depth, DTYPE)
        if self._shape is None:
            self._shape = m.shape
        elif m.shape != self._shape:
            raise StreamerError(f"{self.dest}: a raw map of {m.shape} after maps of {self._shape}")
        try:
            self._spill.write(m.data)
        except OSError as exc:  # a full disk: named, and the `with` block removes the spill
            raise StreamerError(f"cannot write {self.dest}: {exc.strerror or exc}") from None
        self._pts.append(pts)

    def close(self) -> None:
        """Write `dest` from the spill (and remove it)."""
        assert self._spill is not None, "closed"
        self._spill.close()
        self._spill = None
        try:
            shape = (len(self._pts), *(self._shape or (0, 0)))
            write_npz(self.dest, shape, _blocks(self._spill_path), np.asarray(self._pts, np.float64))
        finally:
            self._spill_path.unlink(missing_ok=True)

    def discard(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._spill_path.unlink(missing_ok=True)

    def __enter__(self) -> RawMapsWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def join_raw_maps(parts: list[Path], dest: Path) -> int:
    """`dest` = the parts' `depth` and `pts` one after the other (the maps copied in blocks, never loaded);
    returns the frames."""
    shapes, stamps = [], []
    for part in parts:
        with zipfile.ZipFile(part) as z, z.open("depth.npy") as f:
            shapes.append(_shape(f, part))
            stamps.append(np.load(part)["pts"])
    sizes = {s[1:] for s in shapes}
    if len(sizes) > 1:
        raise StreamerError(f"{dest}: its parts' raw maps differ in size: {sorted(sizes)}")
    shape = (sum(s[0] for s in shapes), *shapes[0][1:])
    write_npz(dest, shape, (b for part in parts for b in _member_blocks(part)), np.concatenate(stamps))
    return shape[0]


def write_npz(dest: Path, shape: tuple[int, ...], blocks: Iterator[bytes], pts: np.ndarray) -> None:
    """The npz `np.savez(dest, depth=..., pts=pts)` writes, the depth array's bytes given in `blocks`."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            with z.open(zipfile.ZipInfo("depth.npy", ZIP_DATE), "w", force_zip64=True) as f:
                npy.write_array_header_1_0(f, {"descr": npy.dtype_to_descr(DTYPE), "fortran_order": False,
                                               "shape": shape})
                written = 0
                for block in blocks:
                    f.write(block)
                    written += len(block)
            if written != int(np.prod(shape)) * DTYPE.itemsize:
                raise StreamerError(f"{dest}: {written} bytes of maps for a {shape} array")
            with z.open(zipfile.ZipInfo("pts.npy", ZIP_DATE), "w", force_zip64=True) as f:
                npy.write_array(f, np.ascontiguousarray(pts, np.float64))
        os.replace(tmp, dest)
    except OSError as exc:
        raise StreamerError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _shape(f: IO[bytes], path: Path) -> tuple[int, ...]:
    """The shape in a .npy header (read past it), which must be N x H x W float32 maps."""
    version = npy.read_magic(f)
    shape, fortran, dtype = (npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0)(f)
    if fortran or dtype != DTYPE or len(shape) != 3:
        raise StreamerError(f"{path}: depth.npy is {dtype} {shape}, not N x H x W float32 maps")
    return shape


def _member_blocks(part: Path) -> Iterator[bytes]:
    with zipfile.ZipFile(part) as z, z.open("depth.npy") as f:
        _shape(f, part)
        while block := f.read(BLOCK):
            yield block


def _blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            yield block
