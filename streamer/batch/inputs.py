"""What `batch` was given: paths, globs and @list files expanded to inputs, each classified as a bag, a video or
images; and each input's digest (the manifest's key, so an edited input is processed again)."""
from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2

from streamer.core.files import CHUNK
from streamer.pipeline.offline import is_video

BAG_SUFFIXES = (".mcap", ".db3")


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # bag | video | images | bad
    problem: str = ""  # kind "bad": why it cannot be processed (one line)
    images: tuple[Path, ...] = ()  # kind "images": the image files, sorted


def expand(args: list[str]) -> list[Input]:
    """Each argument: a path, a glob, or @FILE (one argument a line; # comments). Order kept, duplicates dropped."""
    out: list[Input] = []
    seen: set[Path] = set()
    for arg in _arguments(args, out):
        if not Path(arg).exists() and glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                out.append(Input(Path(arg), "bad", f"{arg}: no file matches this pattern"))
            paths = [Path(m) for m in matches]
        else:
            paths = [Path(arg)]
        for path in paths:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                out.append(classify(path))
    return out


def _arguments(args: list[str], out: list[Input]) -> list[str]:
    found = []
    for arg in args:
        if not arg.startswith("@"):
            found.append(arg)
            continue
        try:
            lines = Path(arg[1:]).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            out.append(Input(Path(arg[1:]), "bad", f"cannot read the list {arg}: {getattr(exc, 'strerror', exc)}"))
            continue
        found += [s for line in lines if (s := line.split("#", 1)[0].strip())]
    return found


def classify(path: Path) -> Input:
    if not path.exists():
        return Input(path, "bad", f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return Input(path, "bag")
        images = tuple(sorted(p for p in path.iterdir() if p.is_file() and cv2.haveImageReader(str(p))))
        if images:
            return Input(path, "images", images=images)
        return Input(path, "bad", f"{path}: a folder with neither metadata.yaml (a ROS 2 bag) nor images")
    if path.suffix.lower() in BAG_SUFFIXES:
        return Input(path, "bag")
    if cv2.haveImageReader(str(path)):
        return Input(path, "images", images=(path,))
    if is_video(path):
        return Input(path, "video")
    return Input(path, "bad", f"{path}: not a ROS 2 bag, a video or an image (unreadable or truncated?)")


def input_files(item: Input) -> list[Path]:
    """The files whose bytes make the input: a bag folder's metadata and storage files, or the file itself."""
    if item.kind == "images":
        return list(item.images)
    if item.path.is_dir():
        return sorted(p for p in item.path.iterdir() if p.is_file())
    return [item.path]


def input_sha256(item: Input) -> str:
    """One digest over the input's files (name and bytes, in order): a changed bag or video changes it."""
    digest = hashlib.sha256()
    for path in input_files(item):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
