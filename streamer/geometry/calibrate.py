"""`depth-streamer calibrate`: intrinsics and distortion from a chessboard video or photo folder (OpenCV).

It works like this: frames are read (every `every`-th of a video, every image of a folder), the board's inner
corners are found and refined to sub-pixel (cv2.findChessboardCorners + cornerSubPix), and cv2.calibrateCamera
fits K and the five distortion coefficients on every board found. The result is printed as a `[camera]` block
with the RMS reprojection error; too few boards is an error that says what to check.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.errors import StreamerError
from streamer.geometry.camera import CameraModel

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class CalibrationError(StreamerError):
    """Calibration could not be done (unreadable input, too few boards); the message says why."""


@dataclass(frozen=True)
class Calibration:
    camera: CameraModel
    rms_px: float  # RMS reprojection error over every corner of every board, pixels
    boards: int  # frames the board was found in (and used)
    frames: int  # frames looked at

    def toml(self) -> str:
        """A `[camera]` block to paste into the daemon's config."""
        c = self.camera
        lines = [f"# depth-streamer calibrate: {self.boards} boards in {self.frames} frames, RMS reprojection "
                 f"error {self.rms_px:.3f} px", "[camera]"]
        for key in ("fx", "fy", "cx", "cy"):
            lines.append(f"{key} = {getattr(c, key):.4f}")
        lines += [f"width = {c.width}", f"height = {c.height}"]
        for key in ("k1", "k2", "p1", "p2", "k3"):
            lines.append(f"{key} = {getattr(c, key):.6g}")
        return "\n".join(lines)


MAX_CORNERS = 100  # no printed chessboard has more inner corners a side; more only asks for memory


def parse_board(text: str) -> tuple[int, int]:
    """'9x6' -> (9, 6): inner corners per row and per column."""
    cols, sep, rows = text.lower().partition("x")
    if (not sep or not cols.isdigit() or not rows.isdigit() or not 2 <= int(cols) <= MAX_CORNERS
            or not 2 <= int(rows) <= MAX_CORNERS):
        raise CalibrationError(f"--board {text!r:.40}: expected COLSxROWS, the board's inner corners (2 to "
                               f"{MAX_CORNERS} each), e.g. 9x6 for a board of 10 x 7 squares")
    return int(cols), int(rows)


def read_frames(path: Path, every: int = 5) -> Iterator[np.ndarray]:
    """BGR frames: every image in a folder (sorted by name), or every `every`-th frame of a video."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CalibrationError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        for file in files:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise CalibrationError(f"{file}: not a readable image")
            yield image
        return
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file or folder")
    import av

    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    yield frame.to_ndarray(format="bgr24")
    except (av.error.FFmpegError, IndexError) as exc:
        raise CalibrationError(f"{path}: cannot read it as a video ({exc})") from None


def calibrate(frames: Iterator[np.ndarray], board: tuple[int, int], square_m: float, *,
              min_boards: int = 5) -> Calibration:
    cols, rows = board
    obj = np.zeros((cols * rows, 3), np.float32)
    obj[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_m
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    object_points, image_points = [], []
    size = None
    seen = 0
    for image in frames:
        seen += 1
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if size is None:
            size = gray.shape[::-1]
        elif gray.shape[::-1] != size:
            raise CalibrationError(f"frame {seen} is {gray.shape[1]}x{gray.shape[0]}, the first was "
                                   f"{size[0]}x{size[1]}: calibrate one resolution at a time")
        found, corners = cv2.findChessboardCorners(gray, (cols, rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH
                                                   | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not found:
            continue
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)
        object_points.append(obj)
        image_points.append(corners)
    if len(image_points) < min_boards:
        raise CalibrationError(f"found the {cols}x{rows} board in only {len(image_points)} of {seen} frames; need "
                               f"at least {min_boards}. Check that --board counts inner corners (a board of 10 x 7 "
                               "squares is 9x6), that the whole board is in view, sharp and evenly lit, and show it "
                               "at several angles and distances")
    assert size is not None
    rms, k, dist, _, _ = cv2.calibrateCamera(object_points, image_points, size, None, None)
    d = [float(x) for x in np.ravel(dist)[:5]] + [0.0] * max(0, 5 - np.size(dist))
    camera = CameraModel(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(size[0]), int(size[1]),
                         *d)
    return Calibration(camera, float(rms), len(image_points), seen)
