"""RGB-D folders: find the NAME.{jpg,png} + NAME.depth.{png,npy} pairs, check them all, load them in metres."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.errors import StreamerError
from streamer.photo import decode

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
DEPTH_SUFFIXES = (".depth.png", ".depth.npy")
DEFAULT_DEPTH_SCALE = 0.001  # 16-bit PNG depth in millimetres, the usual depth-camera export
LAYOUT = ("expected NAME.jpg or NAME.png (the photo) beside NAME.depth.png (16-bit, millimetres, 0 = invalid) "
          "or NAME.depth.npy (float32 metres)")
_LIST = 12  # names shown per kind of problem; the count says how many more


class DatasetError(StreamerError):
    """The RGB-D folder is unusable; the message lists every offending file by name."""


@dataclass(frozen=True)
class Pair:
    name: str
    photo: Path
    depth: Path


@dataclass(frozen=True)
class Sample:
    name: str
    bgr: np.ndarray  # H x W x 3 uint8
    depth: np.ndarray  # H x W float32 metres; invalid pixels are <= 0 or not finite


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LIST])
    return shown + (f" (and {len(items) - _LIST} more)" if len(items) > _LIST else "")


def _split(filename: str) -> tuple[str, str] | None:
    """(NAME, kind) for a file this layout knows: kind "photo" or "depth"; None for anything else."""
    low = filename.lower()
    for suffix in DEPTH_SUFFIXES:  # before photos: x.depth.png also ends in .png
        if low.endswith(suffix):
            return filename[: -len(suffix)], "depth"
    for suffix in PHOTO_SUFFIXES:
        if low.endswith(suffix):
            return filename[: -len(suffix)], "photo"
    return None


def scan(root: str | os.PathLike) -> list[Pair]:
    """Pair the files by NAME; raises DatasetError naming every photo without depth, depth without photo, etc."""
    pairs, problems = pair_files(root)
    if problems:
        raise DatasetError(f"dataset {root}: " + "; ".join(problems) + f". {LAYOUT}")
    return pairs


def pair_files(root: str | os.PathLike) -> tuple[list[Pair], list[str]]:
    """(the pairs found, every pairing problem in words): lonely photos and depths are reported, not paired."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} {'is not a folder' if root.exists() else 'does not exist'}; "
                           + LAYOUT)
    photos: dict[str, list[Path]] = {}
    depths: dict[str, list[Path]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue  # hidden files (editor swap files, our own temp files) and sub-folders are not data
        split = _split(entry.name)
        if split:
            (photos if split[1] == "photo" else depths).setdefault(split[0], []).append(entry)
    problems = []
    lonely_photos = [p.name for n in sorted(photos) if n not in depths for p in photos[n]]
    lonely_depths = [d.name for n in sorted(depths) if n not in photos for d in depths[n]]
    doubles = [" + ".join(p.name for p in files) for files in (*photos.values(), *depths.values()) if len(files) > 1]
    if lonely_photos:
        problems.append(f"{len(lonely_photos)} photo(s) without depth: {_names(lonely_photos)}")
    if lonely_depths:
        problems.append(f"{len(lonely_depths)} depth file(s) without a photo: {_names(lonely_depths)}")
    if doubles:
        problems.append(f"{len(doubles)} name(s) with two files of one kind (keep one): {_names(doubles)}")
    pairs = [Pair(n, photos[n][0], depths[n][0]) for n in sorted(photos) if n in depths]
    if not pairs and not problems:
        raise DatasetError(f"dataset {root} is empty: no RGB-D pairs found; {LAYOUT}")
    return pairs, problems


def read_photo(path: Path) -> np.ndarray:
    """The photo as BGR, read as `infer` reads one (`streamer.photo.decode.read`)."""
    try:
        return decode.read(path).image
    except decode.PhotoError as exc:
        raise DatasetError(f"{path.name}: {exc if exc.code == 413 else 'cannot read it as an image'}") from None


def read_depth(path: Path, depth_scale: float = DEFAULT_DEPTH_SCALE) -> np.ndarray:
    """Depth in metres, float32; invalid pixels keep a value <= 0, NaN or inf (see `valid_mask`)."""
    if path.name.lower().endswith(".npy"):
        try:
            depth = np.load(path, allow_pickle=False)  # never unpickle objects from a data folder
        except (OSError, ValueError, EOFError) as exc:
            raise DatasetError(f"{path.name}: cannot read it as a .npy array ({exc})") from None
        if depth.ndim != 2 or depth.dtype.kind != "f":
            raise DatasetError(f"{path.name}: expected a 2-D float32 array of metres, got {depth.dtype} "
                               f"{'x'.join(map(str, depth.shape))}")
        return depth.astype(np.float32, copy=False)
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DatasetError(f"{path.name}: cannot read it as a PNG")
    if depth.dtype != np.uint16 or depth.ndim != 2:
        # An 8-bit or colour PNG is almost always a visualisation, not measurements: refuse rather than guess.
        raise DatasetError(f"{path.name}: expected a single-channel 16-bit PNG, got {depth.dtype} with "
                           f"{1 if depth.ndim == 2 else depth.shape[2]} channel(s)")
    return depth.astype(np.float32) * np.float32(depth_scale)


def valid_mask(depth: np.ndarray, max_depth: float | None = None) -> np.ndarray:
    """Pixels with a measurement: finite and > 0 (and <= max_depth when given)."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
        if max_depth is not None:
            valid &= depth <= max_depth
    return valid


class RGBDDataset:
    """A checked folder of pairs; `load(i)` reads one on demand (a few hundred frames need not sit in memory)."""

    def __init__(self, root: str | os.PathLike, depth_scale: float = DEFAULT_DEPTH_SCALE,
                 pairs: list[Pair] | None = None, check: bool = True) -> None:
        if not depth_scale > 0:
            raise DatasetError(f"--depth-scale must be > 0 (metres per PNG unit), got {depth_scale}")
        self.root = Path(root)
        self.depth_scale = depth_scale
        problems: list[str] = []
        if pairs is None:
            pairs, problems = pair_files(self.root)
        self.pairs = pairs
        if check:
            problems += self.file_problems()
        if problems:  # every problem of the folder in one message: fixed in one go, not one run at a time
            raise DatasetError(f"dataset {self.root}: " + "; ".join(problems) + f". {LAYOUT}")

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pairs]

    def subset(self, indices: Sequence[int]) -> RGBDDataset:
        return RGBDDataset(self.root, self.depth_scale, [self.pairs[i] for i in indices], check=False)

    def load(self, index: int) -> Sample:
        pair = self.pairs[index]
        bgr = read_photo(pair.photo)
        depth = read_depth(pair.depth, self.depth_scale)
        if bgr.shape[:2] != depth.shape:
            raise DatasetError(_size_problem(pair, bgr.shape, depth.shape))
        return Sample(pair.name, bgr, depth)

    def file_problems(self) -> list[str]:
        """Read every file once, before hours of work: all unreadable or mismatched ones, in words."""
        unreadable, mismatched = [], []
        for pair in self.pairs:
            shapes = []
            for path, reader in ((pair.photo, _photo_shape), (pair.depth, self._depth_shape)):
                try:
                    shapes.append(reader(path))
                except DatasetError as exc:
                    unreadable.append(str(exc))
            if len(shapes) == 2 and shapes[0] != shapes[1]:
                mismatched.append(_size_problem(pair, shapes[0], shapes[1]))
        problems = []
        if unreadable:
            problems.append(f"{len(unreadable)} unreadable file(s): {_names(unreadable)}")
        if mismatched:
            problems.append(f"{len(mismatched)} pair(s) whose sizes differ: {_names(mismatched)}")
        return problems

    def _depth_shape(self, path: Path) -> tuple[int, int]:
        return read_depth(path, self.depth_scale).shape


def _photo_shape(path: Path) -> tuple[int, int]:
    return read_photo(path).shape[:2]


def _size_problem(pair: Pair, photo_shape, depth_shape) -> str:
    return (f"{pair.photo.name} is {photo_shape[1]}x{photo_shape[0]} but {pair.depth.name} is "
            f"{depth_shape[1]}x{depth_shape[0]}")
