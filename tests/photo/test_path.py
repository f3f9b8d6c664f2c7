"""The still-photo path every caller shares: a file read as infer and eval read it, NaN refused by name for every
predictor, the encodings `infer` writes and POST /depth answers."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from streamer.errors import NonFiniteOutput
from streamer.photo import decode
from streamer.photo.depth import photo_depth
from streamer.photo.encode import encode, robust_range
from streamer.train.dataset import RGBDDataset
from streamer.train.evaluate import evaluate
from streamer.train.synth import write_demo_dataset


def test_a_file_is_read_whole_and_a_non_image_is_refused(tmp_path):
    image = np.zeros((30, 50, 3), np.uint8)
    image[:, 25:] = (10, 200, 30)
    cv2.imwrite(str(tmp_path / "a.tiff"), image)  # a format uploads refuse (415) is a file infer takes
    photo = decode.read(tmp_path / "a.tiff")
    assert (photo.format, photo.width, photo.height) == ("tiff", 50, 30)
    np.testing.assert_array_equal(photo.image, image)
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(decode.PhotoError) as err:
        decode.read(tmp_path / "b.png")
    assert err.value.code == 400


def test_depth_is_float32_and_nan_is_refused_by_name():
    raw = photo_depth(lambda bgr: np.ones((4, 6), np.float64), np.zeros((8, 12, 3), np.uint8), "x.png")
    assert raw.dtype == np.float32 and raw.shape == (4, 6)
    bad = np.ones((4, 6), np.float32)
    bad[1, 2] = np.inf
    with pytest.raises(NonFiniteOutput, match=r"on x\.png: 1 of 24 values NaN or inf"):
        photo_depth(lambda bgr: bad, np.zeros((8, 12, 3), np.uint8), "x.png")


def test_eval_stops_at_nan_output_naming_the_photo(tmp_path):
    write_demo_dataset(tmp_path, 2, seed=3, width=64, height=48)
    dataset = RGBDDataset(tmp_path)
    with pytest.raises(NonFiniteOutput, match=f"on {dataset.names[0]}:"):
        evaluate(lambda bgr: np.full((8, 8), np.nan, np.float32), dataset, progress=False)


def test_encodings_at_the_photos_size_and_raw():
    raw = np.tile(np.linspace(0.0, 1.0, 16, dtype=np.float32), (12, 1))  # far (left) to near (right)
    npy = np.load(io.BytesIO(encode(raw, "npy", (64, 48))), allow_pickle=False)
    np.testing.assert_array_equal(npy, raw)
    png = cv2.imdecode(np.frombuffer(encode(raw, "png", (64, 48)), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (48, 64, 3) and png.dtype == np.uint8
    png16 = cv2.imdecode(np.frombuffer(encode(raw, "png16", (64, 48)), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png16.dtype == np.uint16 and png16.shape == (48, 64)
    assert png16[:, -1].min() == 65535 and png16[:, 0].max() == 0  # raw max -> 65535, raw min -> 0
    lo, hi = robust_range(raw)
    assert lo == pytest.approx(np.percentile(raw, 2)) and hi == pytest.approx(np.percentile(raw, 98))
    with pytest.raises(ValueError, match="format must be one of png, png16, npy"):
        encode(raw, "jpeg", (64, 48))
