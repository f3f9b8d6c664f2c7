"""RGB-D folders: pairing, units, invalid pixels, and one clear error per bad case naming the files."""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from streamer.train.dataset import DatasetError, RGBDDataset, valid_mask
from tests.conftest import REPO, cli, subprocess_env
from tests.train.conftest import TRAINED


def _photo(path, w=16, h=12):
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def _depth_png(path, w=16, h=12, mm=1500):
    cv2.imwrite(str(path), np.full((h, w), mm, np.uint16))


def _error(root, **kw) -> str:
    with pytest.raises(DatasetError) as info:
        RGBDDataset(root, **kw)
    return str(info.value)


def test_pairs_units_and_invalid_pixels(tmp_path):
    _photo(tmp_path / "a.jpg")
    d = np.full((12, 16), 1500, np.uint16)
    d[0, 0] = 0
    cv2.imwrite(str(tmp_path / "a.depth.png"), d)
    _photo(tmp_path / "b.png")
    f = np.full((12, 16), 2.5, np.float32)
    f[0, :4] = (0.0, -1.0, np.nan, np.inf)
    np.save(tmp_path / "b.depth.npy", f)
    (tmp_path / "notes.txt").write_text("ignored")
    ds = RGBDDataset(tmp_path)
    assert ds.names == ["a", "b"]
    a, b = ds.load(0), ds.load(1)
    assert a.bgr.shape == (12, 16, 3) and a.depth.dtype == np.float32
    assert a.depth[1, 1] == pytest.approx(1.5)  # millimetres -> metres
    assert not valid_mask(a.depth)[0, 0] and valid_mask(a.depth).sum() == 12 * 16 - 1
    assert valid_mask(b.depth).sum() == 12 * 16 - 4
    assert valid_mask(b.depth, max_depth=2.0).sum() == 0
    assert RGBDDataset(tmp_path, depth_scale=0.0001).load(0).depth[1, 1] == pytest.approx(0.15)  # --depth-scale


def test_photo_without_depth_and_depth_without_photo(tmp_path):
    _photo(tmp_path / "ok.jpg")
    _depth_png(tmp_path / "ok.depth.png")
    _photo(tmp_path / "lonely.jpg")
    _photo(tmp_path / "alone.png")
    _depth_png(tmp_path / "orphan.depth.png")
    np.save(tmp_path / "stray.depth.npy", np.ones((12, 16), np.float32))
    msg = _error(tmp_path)
    assert "2 photo(s) without depth: alone.png, lonely.jpg" in msg
    assert "2 depth file(s) without a photo: orphan.depth.png, stray.depth.npy" in msg
    assert "ok.jpg" not in msg and "ok.depth.png" not in msg


def test_sizes_differ(tmp_path):
    _photo(tmp_path / "small.jpg", 16, 12)
    _depth_png(tmp_path / "small.depth.png", 32, 24)
    _photo(tmp_path / "fine.jpg")
    _depth_png(tmp_path / "fine.depth.png")
    msg = _error(tmp_path)
    assert "sizes differ" in msg and "small.jpg is 16x12 but small.depth.png is 32x24" in msg
    assert "fine" not in msg


@pytest.mark.parametrize("kind", ["missing", "empty", "only_junk"])
def test_empty_or_missing_folder(tmp_path, kind):
    root = tmp_path / "data"
    if kind != "missing":
        root.mkdir()
    if kind == "only_junk":
        (root / "readme.txt").write_text("x")
    msg = _error(root)
    assert str(root) in msg
    assert ("does not exist" in msg) if kind == "missing" else ("is empty" in msg)
    assert "NAME.depth.png" in msg  # says what the layout should be


def test_unreadable_files_are_all_named(tmp_path):
    (tmp_path / "text.jpg").write_text("not a JPEG")
    _depth_png(tmp_path / "text.depth.png")
    _photo(tmp_path / "trunc.png")
    (tmp_path / "trunc.depth.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    _photo(tmp_path / "eight.png")
    cv2.imwrite(str(tmp_path / "eight.depth.png"), np.full((12, 16), 9, np.uint8))  # a visualisation
    _photo(tmp_path / "badnpy.png")
    (tmp_path / "badnpy.depth.npy").write_bytes(b"garbage")
    msg = _error(tmp_path)
    assert "4 unreadable file(s)" in msg
    for name in ("text.jpg", "trunc.depth.png", "eight.depth.png", "badnpy.depth.npy"):
        assert name in msg
    assert "16-bit" in msg


def test_two_photos_for_one_name(tmp_path):
    _photo(tmp_path / "x.jpg")
    _photo(tmp_path / "x.png")
    _depth_png(tmp_path / "x.depth.png")
    assert "x.jpg + x.png" in _error(tmp_path)


def test_cli_reports_dataset_errors_before_loading_anything(tmp_path):
    _photo(tmp_path / "lonely.jpg")
    for args in (("eval", str(tmp_path), "--weights", str(TRAINED)),
                 ("train", str(tmp_path), "--weights", str(TRAINED), "--out", str(tmp_path / "o.pt"))):
        proc = subprocess.run(cli(*args), capture_output=True, text=True, timeout=120, cwd=REPO,
                              env=subprocess_env())
        assert proc.returncode == 1, proc.stderr
        assert "photo(s) without depth: lonely.jpg" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_every_problem_of_a_folder_comes_at_once(tmp_path):
    """A photo without depth, a corrupt photo and a size mismatch: one message names all three, in one run."""
    _photo(tmp_path / "lonely.jpg")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 20)
    _depth_png(tmp_path / "corrupt.depth.png")
    _photo(tmp_path / "small.jpg", 16, 12)
    _depth_png(tmp_path / "small.depth.png", 32, 24)
    _photo(tmp_path / "fine.jpg")
    _depth_png(tmp_path / "fine.depth.png")
    msg = _error(tmp_path)
    assert "1 photo(s) without depth: lonely.jpg" in msg
    assert "1 unreadable file(s)" in msg and "corrupt.jpg" in msg
    assert "small.jpg is 16x12 but small.depth.png is 32x24" in msg
    assert "fine" not in msg


def test_eval_of_a_set_whose_every_depth_is_empty_fails(tmp_path):
    for name in ("a", "b"):
        _photo(tmp_path / f"{name}.jpg", 64, 48)
        _depth_png(tmp_path / f"{name}.depth.png", 64, 48, mm=0)  # 0 = no measurement
    proc = subprocess.run(cli("eval", str(tmp_path), "--weights", str(TRAINED), "--threads", "1"),
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=subprocess_env())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "none of the 2 image(s) has a valid depth pixel" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["train", "eval"])
def test_an_output_that_cannot_be_written_fails_before_the_work(tmp_path, command):
    """`train --out /proc/x/y.pt` used to train a whole epoch first; `eval --json` to score the whole set first."""
    _photo(tmp_path / "a.jpg")
    _depth_png(tmp_path / "a.depth.png")
    target = "/proc/depth-streamer-nowhere/y.pt" if command == "train" else "/proc/depth-streamer-nowhere/r.json"
    flag = "--out" if command == "train" else "--json"
    proc = subprocess.run(cli(command, str(tmp_path), "--weights", str(TRAINED), flag, target),
                          capture_output=True, text=True, timeout=120, cwd=REPO, env=subprocess_env())
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"{flag} {target}" in errors[0] and "cannot write" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "epoch" not in proc.stderr and "loading" not in proc.stderr.lower()  # nothing ran before the error
