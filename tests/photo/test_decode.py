"""Uploaded photos: format and size from the header (before any decoding), reduced JPEG decoding, EXIF rotation,
and what is refused."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from streamer.photo.decode import PhotoError, decode, read, sniff


def encoded(ext: str, w: int = 90, h: int = 60, *params: int) -> bytes:
    image = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment holding only an Orientation tag (6 = rotate 90 degrees clockwise)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("ext,fmt,params", [(".jpg", "jpeg", ()), (".png", "png", ()), (".bmp", "bmp", ()),
                                            (".webp", "webp", ()), (".webp", "webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),
                                            (".jpg", "jpeg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))])
def test_format_and_size_from_the_header(ext, fmt, params):
    data = encoded(ext, 90, 60, *params)
    assert sniff(data) == (fmt, 90, 60)
    photo = decode(data, 10_000, 64)
    assert (photo.format, photo.width, photo.height, photo.image.shape) == (fmt, 90, 60, (60, 90, 3))


def test_large_jpeg_is_decoded_reduced_but_keeps_its_size():
    photo = decode(encoded(".jpg", 1600, 1200), 10_000_000, 256)
    assert (photo.width, photo.height) == (1600, 1200)
    assert photo.image.shape == (300, 400, 3)  # 1/4: the longer side stays at least 256
    assert decode(encoded(".png", 1600, 1200), 10_000_000, 256).image.shape == (1200, 1600, 3)  # PNG: full size


def test_exif_rotation_is_applied_and_the_size_follows():
    photo = decode(with_exif_orientation(encoded(".jpg", 90, 60), 6), 10_000, 64)
    assert (photo.width, photo.height, photo.image.shape) == (60, 90, (90, 60, 3))


def test_refusals():
    with pytest.raises(PhotoError) as e:
        decode(encoded(".png", 200, 100), 19_999, 64)
    assert e.value.code == 413 and "200x100 pixels is over the limit of 19999 pixels" in str(e.value)
    for garbage in (b"", b"GIF", b"just text", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", encoded(".jpg")[:20]):
        with pytest.raises(PhotoError) as e:
            decode(garbage, 10_000, 64)
        assert e.value.code == 400 and "not a decodable image" in str(e.value), garbage
    for other in (encoded(".tiff"), encoded(".ppm"), b"GIF89a" + b"\0" * 20):
        with pytest.raises(PhotoError) as e:
            decode(other, 10_000, 64)
        assert e.value.code == 415 and "unsupported image format" in str(e.value)
    truncated = encoded(".png", 90, 60)[:200]  # a valid header, pixels cut off
    with pytest.raises(PhotoError) as e:
        decode(truncated, 10_000, 64)
    assert e.value.code == 400


def test_a_file_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    # issue 26: a 389 kB PNG of 20000 x 20000 would take 1.2 GB as BGR; `infer` and `eval` read files through here
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
    from test_bag_faults import png_bomb

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(20000, 20000))
    with pytest.raises(PhotoError, match="20000x20000 PNG image is over the limit of 67108864") as info:
        read(bomb)
    assert info.value.code == 413
    small = tmp_path / "small.png"
    small.write_bytes(png_bomb(64, 48))
    assert read(small).image.shape == (48, 64, 3)
