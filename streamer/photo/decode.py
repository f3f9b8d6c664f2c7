"""A still photo in: uploaded bytes or a file, decoded to BGR.

Uploaded bytes (`decode`): the format and size are read from the header before decoding (so a small file claiming a
huge image is refused before it takes memory), then decoded, reduced while decoding when that is free (JPEG).
Formats: JPEG, PNG, WebP and BMP, the ones whose header gives the size; anything else OpenCV reads is refused
with 415, and bytes that are no image at all with 400. A file the user names (`read`: `infer`, `eval`) may be any
image OpenCV reads, at its full size.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FORMATS = ("jpeg", "png", "webp", "bmp")
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
_OTHER_IMAGES = (b"II*\x00", b"MM\x00*", b"GIF8", b"\x00\x00\x00\x0cjP", b"\xff\x4f\xff\x51", b"P1", b"P2", b"P3",
                 b"P4", b"P5", b"P6", b"#?RADIANCE", b"v/1\x01")  # TIFF GIF JP2 PNM HDR EXR: images we do not take


class PhotoError(Exception):
    """A photo we refuse; `code` is the HTTP status to answer an upload with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Photo:
    format: str
    width: int
    height: int
    image: np.ndarray  # BGR uint8; possibly reduced (then smaller than width x height)


def sniff(data: bytes | bytearray) -> tuple[str, int, int]:
    """(format, width, height) from the file header; PhotoError 415/400 when it is not a photo we take."""
    try:
        if data[:3] == b"\xff\xd8\xff":
            return ("jpeg", *_jpeg_size(data))
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return "png", w, h
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return ("webp", *_webp_size(data))
        if data[:2] == b"BM" and len(data) >= 26:
            header = struct.unpack("<I", data[14:18])[0]
            w, h = struct.unpack("<HH", data[18:22]) if header == 12 else struct.unpack("<ii", data[18:26])
            return "bmp", abs(w), abs(h)
    except (struct.error, IndexError, ValueError):
        pass  # a truncated header: not a decodable image
    if data.startswith(_OTHER_IMAGES):
        raise PhotoError(415, f"unsupported image format; send one of {', '.join(f.upper() for f in FORMATS)}")
    raise PhotoError(400, f"not a decodable image (expected {', '.join(f.upper() for f in FORMATS)})")


def decode(data: bytes | bytearray, max_pixels: int, min_side: int) -> Photo:
    """The photo in BGR; a JPEG whose longer side is over 2 x `min_side` is decoded at 1/2, 1/4 or 1/8 size
    (the DCT does the averaging), never below `min_side`. PhotoError 413 past `max_pixels`, 400 when unreadable."""
    fmt, w, h = sniff(data)
    if w <= 0 or h <= 0:
        raise PhotoError(400, "not a decodable image (zero size)")
    if w * h > max_pixels:
        raise PhotoError(413, f"image of {w}x{h} pixels is over the limit of {max_pixels} pixels")
    flag = cv2.IMREAD_COLOR
    if fmt == "jpeg":
        flag = next((f for r, f in _REDUCED if max(w, h) // r >= min_side), flag)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        image = None
    if image is None or image.ndim != 3 or image.shape[0] == 0:
        raise PhotoError(400, f"not a decodable image (a damaged {fmt.upper()} file?)")
    aspect = image.shape[0] / image.shape[1]
    if fmt == "jpeg" and abs(aspect - w / h) < abs(aspect - h / w):
        w, h = h, w  # OpenCV applied the EXIF orientation, as a browser shows the photo: keep its size upright
    if fmt != "jpeg" and image.shape[:2] != (h, w):
        raise PhotoError(400, f"not a decodable image (header says {w}x{h}, pixels are "
                              f"{image.shape[1]}x{image.shape[0]})")
    return Photo(fmt, w, h, image)


MAX_READ_PIXELS = 8192 * 8192  # a file `infer`/`eval` read: 201 MB of BGR at most, whatever its few bytes claim


def read(path: Path, max_pixels: int = MAX_READ_PIXELS) -> Photo:
    """The image file at `path` (any format OpenCV reads), full size; PhotoError 400 when it is no readable image,
    413 when its header (JPEG, PNG, WebP, BMP) says it is over `max_pixels`, before it is decoded."""
    try:
        with path.open("rb") as f:
            fmt, w, h = sniff(f.read(1 << 18))
    except (OSError, PhotoError):
        pass  # unreadable, or a format whose header we do not read: OpenCV says what it can
    else:
        if w * h > max_pixels:
            raise PhotoError(413, f"a {w}x{h} {fmt.upper()} image is over the limit of {max_pixels} pixels")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or image.shape[0] == 0:
        raise PhotoError(400, "not a readable image")
    return Photo(path.suffix.lower().lstrip(".") or "image", image.shape[1], image.shape[0], image)


def _jpeg_size(data: bytes | bytearray) -> tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise ValueError("no JPEG frame header")


def _webp_size(data: bytes | bytearray) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ValueError("unknown WebP chunk")
