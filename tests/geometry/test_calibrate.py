"""`depth-streamer calibrate` on chessboards rendered here with known intrinsics (a real subprocess, real OpenCV)."""
from __future__ import annotations

import math
import re
import subprocess

import cv2
import numpy as np
import pytest

from streamer.config.toml import read_toml
from streamer.geometry.options import CameraOptions
from tests.conftest import cli, subprocess_env

K = np.array([[520.0, 0.0, 322.0], [0.0, 515.0, 236.0], [0.0, 0.0, 1.0]])  # the camera we "own"
SIZE = (640, 480)
BOARD = (8, 5)  # inner corners
SQUARE_M = 0.03
PX_PER_SQUARE = 40  # the board texture's resolution


def board_texture() -> np.ndarray:
    cols, rows = BOARD[0] + 1, BOARD[1] + 1
    margin = PX_PER_SQUARE
    tex = np.full((rows * PX_PER_SQUARE + 2 * margin, cols * PX_PER_SQUARE + 2 * margin), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                y, x = margin + r * PX_PER_SQUARE, margin + c * PX_PER_SQUARE
                tex[y:y + PX_PER_SQUARE, x:x + PX_PER_SQUARE] = 0
    return tex


def render(rvec, tvec) -> np.ndarray:
    """The board seen by K at pose (rvec, tvec): the texture's corners projected with cv2.projectPoints, then the
    texture warped onto them (warpPerspective: a plane under a pinhole camera is a homography)."""
    tex = board_texture()
    h, w = tex.shape
    m_per_px = SQUARE_M / PX_PER_SQUARE
    margin_m = PX_PER_SQUARE * m_per_px
    # texture pixel (x, y) -> board point (x * m - margin, y * m - margin, 0): inner corner (0, 0) at the origin
    corners_tex = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    corners_board = np.c_[corners_tex * m_per_px - (margin_m + SQUARE_M), np.zeros(4)]
    img_pts, _ = cv2.projectPoints(corners_board, rvec, tvec, K, None)
    H = cv2.getPerspectiveTransform(corners_tex.astype(np.float32), img_pts.reshape(4, 2).astype(np.float32))
    gray = cv2.warpPerspective(tex, H, SIZE, flags=cv2.INTER_AREA, borderValue=128)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def poses(n: int):
    rng = np.random.default_rng(7)
    for _ in range(n):
        rvec = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 0.3)])
        tvec = np.array([rng.uniform(-0.12, 0.02), rng.uniform(-0.08, 0.0), rng.uniform(0.35, 0.55)])
        yield rvec, tvec


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(cli("calibrate", *map(str, args)), capture_output=True, text=True, timeout=120,
                          env=subprocess_env())


def test_calibrate_recovers_known_intrinsics(tmp_path):
    for i, (rvec, tvec) in enumerate(poses(12)):
        cv2.imwrite(str(tmp_path / f"board{i:02d}.png"), render(rvec, tvec))
    proc = run(tmp_path, "--board", "8x5", "--square", SQUARE_M)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    boards = int(re.search(r"(\d+) boards in 12 frames", out).group(1))
    rms = float(re.search(r"error ([\d.]+) px", out).group(1))
    assert boards >= 10 and rms < 0.5
    block = tmp_path / "camera.toml"
    block.write_text(out)
    cam = CameraOptions(**read_toml(block)["camera"])  # pasteable: it parses as the [camera] section
    cam.validate()
    assert cam.fx == pytest.approx(520.0, rel=0.01) and cam.fy == pytest.approx(515.0, rel=0.01)
    assert abs(cam.cx - 322.0) < 4 and abs(cam.cy - 236.0) < 4 and (cam.width, cam.height) == SIZE
    assert math.hypot(cam.k1, cam.k2) < 0.2  # the renderer has no distortion


def test_calibrate_refuses_too_few_boards(tmp_path):
    for i, (rvec, tvec) in enumerate(poses(2)):
        cv2.imwrite(str(tmp_path / f"board{i}.png"), render(rvec, tvec))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((480, 640, 3), 90, np.uint8))
    proc = run(tmp_path, "--board", "8x5", "--square", SQUARE_M)
    assert proc.returncode != 0 and proc.stdout == ""
    assert "found the 8x5 board in only 2 of 3 frames; need at least 5" in proc.stderr
    wrong = run(tmp_path, "--board", "8by5", "--square", SQUARE_M)
    assert wrong.returncode != 0 and "expected COLSxROWS" in wrong.stderr
    missing = run(tmp_path / "nope", "--board", "8x5", "--square", SQUARE_M)
    assert missing.returncode != 0 and "no such file or folder" in missing.stderr
