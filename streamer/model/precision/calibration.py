"""Real frames for calibration and for the accuracy gate: from a video, a folder of images, or the live source.

Frames are spread evenly over the source (a few seconds of one view calibrate badly), then split into two disjoint,
interleaved sets: calibration (quantisation ranges) and held-out (the gate). Never noise: ranges calibrated on
noise fit no real scene. The digest of the calibration frames is part of the int8 cache key.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamer.core.picture import Picture
from streamer.errors import StreamerError
from streamer.model.preprocess import Preprocessor, network_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MIN_FRAMES = 4  # at least two to calibrate on and two to judge with
FIT_REVISION = 1  # bump when network_inputs changes how a frame becomes an input (it is in the cache key)


@dataclass(frozen=True)
class FrameSet:
    """BGR uint8 frames: `calibration` and `held_out` never share a frame. `held_out_pictures`: the held-out frames'
    decoded pictures when a live source gave them (the decoder-scaled preprocessing is gated on them), else empty."""

    source: str
    calibration: list[np.ndarray] = field(repr=False)
    held_out: list[np.ndarray] = field(repr=False)
    held_out_pictures: list[Picture] = field(default_factory=list, repr=False)

    def digest(self) -> str:
        """Stable across runs and machines: the calibration frames' shapes and bytes."""
        h = hashlib.sha256(f"fit{FIT_REVISION}".encode())
        for f in self.calibration:
            h.update(repr(f.shape).encode())
            h.update(np.ascontiguousarray(f).tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        return f"{len(self.calibration)} calibration + {len(self.held_out)} held-out frames from {self.source}"

    def keep_for_later(self, net_size: int) -> None:
        """Once the decision is made, in place (an int8 backend holds this set, for the sizes it has not built
        yet): drop the gate's frames (re-checks gate on live ones) and shrink the calibration frames to the network
        size (`shrink`: ~6x less memory; a later build's digest is then of these)."""
        self.held_out.clear()
        self.held_out_pictures.clear()
        self.calibration[:] = [shrink(f, net_size) for f in self.calibration]


def split(frames: Sequence[np.ndarray | Picture], held_out: int, source: str = "frames") -> FrameSet:
    """Interleave: `held_out` frames evenly spaced through the sequence go to the gate, the rest calibrate.
    Pictures are converted to BGR here (in the caller's thread); the held-out ones are kept as well."""
    n = len(frames)
    if n < MIN_FRAMES:
        raise StreamerError(f"{source}: {n} usable frame(s); calibration needs at least {MIN_FRAMES} real frames "
                            f"(some to calibrate on, others to check the result with)")
    g = min(max(1, held_out), n - 2)
    picks = {int((i + 0.5) * n / g) for i in range(g)}
    images = [f.bgr() if isinstance(f, Picture) else f for f in frames]
    pictures = [f for i, f in enumerate(frames) if i in picks and isinstance(f, Picture)]
    return FrameSet(source, [f for i, f in enumerate(images) if i not in picks],
                    [f for i, f in enumerate(images) if i in picks], pictures if len(pictures) == len(picks) else [])


def load_frame_set(source: str | Path, calibration: int, held_out: int, seconds: float = 0.0) -> FrameSet:
    """`calibration + held_out` frames spread over a video file (its first `seconds` if > 0) or an image folder."""
    frames = load_frames(source, calibration + held_out, seconds)
    return split(frames, round(len(frames) * held_out / (calibration + held_out)), str(source))


def load_frames(source: str | Path, count: int, seconds: float = 0.0) -> list[np.ndarray]:
    path = Path(source).expanduser()
    if not path.exists():
        raise StreamerError(f"calibration source not found: {path} (give a video file or a folder of images)")
    if path.is_dir():
        return _images(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), count, path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _images([path], count, path)
    return _video(path, count, seconds)


def _spread(n: int, count: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(n, count)).round()}) if n else []


def _images(paths: list[Path], count: int, where: Path) -> list[np.ndarray]:
    out = [img for i in _spread(len(paths), count)
           if (img := cv2.imread(str(paths[i]), cv2.IMREAD_COLOR)) is not None]
    if not out:
        raise StreamerError(f"calibration source {where}: no readable images ({', '.join(IMAGE_SUFFIXES)})")
    return out


def _video(path: Path, count: int, seconds: float) -> list[np.ndarray]:
    import av

    def frames(container):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if seconds > 0 and frame.time is not None and frame.time > seconds:
                return
            yield frame

    try:
        with av.open(str(path)) as container:  # pass 1: count (decode only, no colour conversion)
            if not container.streams.video:
                raise StreamerError(f"calibration source {path} has no video stream")
            n = sum(1 for _ in frames(container))
        wanted = set(_spread(n, count))
        with av.open(str(path)) as container:
            out = [f.to_ndarray(format="bgr24") for i, f in enumerate(frames(container)) if i in wanted]
    except StreamerError:
        raise
    except Exception as exc:  # av.error.InvalidDataError and friends: not a video we can decode
        raise StreamerError(f"cannot read calibration video {path}: {exc}") from None
    if not out:
        raise StreamerError(f"calibration video {path} has no decodable frames")
    return out


def shrink(bgr: np.ndarray, net_size: int) -> np.ndarray:
    """A frame kept for minutes (int8 calibration, re-checks) at its network input size, area-reduced: ~150 KB
    instead of ~920 KB at 640x480. Its own network size is the original's (network_size is idempotent there), so a
    gate on it runs the network at the size that serves; a larger frame than that is never made."""
    h, w = bgr.shape[:2]
    net_w, net_h = network_size(w, h, net_size)
    if net_w >= w or net_h >= h:
        return bgr
    return cv2.resize(bgr, (net_w, net_h), interpolation=cv2.INTER_AREA)


def network_inputs(frames: Sequence[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """1x3xHxW inputs of exactly this size: as the live path would make them, centre-cropped to the aspect if not."""
    prep = Preprocessor(max(height, width))
    out = []
    for bgr in frames:
        x = prep(bgr)
        if x.shape[2:] != (height, width):
            h, w = bgr.shape[:2]
            if w * height > h * width:
                cw = max(1, h * width // height)
                bgr = bgr[:, (w - cw) // 2:(w - cw) // 2 + cw]
            else:
                ch = max(1, w * height // width)
                bgr = bgr[(h - ch) // 2:(h - ch) // 2 + ch]
            x = prep(bgr)
            if x.shape[2:] != (height, width):
                x = prep(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA))
        out.append(x)
    return out


class FrameCollector:
    """For the daemon: keep `count` frames spread over the source's first `seconds`, from the frames it offers. A
    source's pictures are kept as they are (the worker's hot path converts nothing); `images` and `frame_set`
    convert them, in the precision stage's thread."""

    def __init__(self, count: int, seconds: float, source: str = "live source") -> None:
        self.count, self.seconds, self.source = count, seconds, source
        self.frames: list[Picture] = []
        self._t0: float | None = None

    @property
    def done(self) -> bool:
        return len(self.frames) >= self.count

    def offer(self, frame: Picture | np.ndarray, t: float) -> bool:
        """Keep the frame if it is due (a BGR array is copied; a picture is never written to); returns whether the
        collection is complete."""
        if self._t0 is None:
            self._t0 = t
        due = self._t0 + len(self.frames) * self.seconds / max(1, self.count)
        if not self.done and t >= due:
            self.frames.append(frame if isinstance(frame, Picture) else Picture.of(frame.copy()))
        return self.done

    def images(self, count: int | None = None) -> list[np.ndarray]:
        """The BGR of the first `count` kept frames (all: None), converted now where not yet."""
        return [p.bgr() for p in self.frames[:count]]

    def frame_set(self, held_out: int) -> FrameSet:
        return split(self.frames, held_out, self.source)
