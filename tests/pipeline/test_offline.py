"""`depth-streamer infer` as a user runs it: videos through the lossless path into an H.264 depth video (+ raw maps),
images beside them, names that never collide, and clear errors that lose nothing."""
from __future__ import annotations

import subprocess

import av
import numpy as np

from tests.conftest import IMAGES, SEED_WEIGHTS, VIDEO, cli, subprocess_env

REALSHORT = VIDEO / "realshort.mp4"  # 320x240, 36 frames


def infer(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cli("infer", "--weights", str(SEED_WEIGHTS), *args), capture_output=True, text=True,
                          timeout=300, env=subprocess_env(), cwd=cwd, check=False)


def test_video_and_images_with_colliding_names(tmp_path):
    out = tmp_path / "out"
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "lions.jpg").write_bytes(IMAGES["lions"].read_bytes())
    proc = infer(str(REALSHORT), str(IMAGES["lions"]), str(twin / "lions.jpg"), "--raw", "--view", "side_by_side",
                 "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out / "realshort.depth.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
    assert len(frames) == 36 and (frames[0].width, frames[0].height) == (640, 240)  # side by side: 2 x 320
    raw = np.load(out / "realshort.depth.npz")
    assert raw["depth"].shape == (36, 192, 256) and raw["depth"].dtype == np.float32
    assert np.isfinite(raw["depth"]).all() and np.all(np.diff(raw["pts"]) > 0)
    # The same stem twice: both kept, the second with a suffix, never silently overwritten.
    for stem in ("lions", "lions-2"):
        assert (out / f"{stem}.npy").is_file() and (out / f"{stem}.png").is_file()
    np.testing.assert_array_equal(np.load(out / "lions.npy"), np.load(out / "lions-2.npy"))
    assert "frame/s" in proc.stderr and "36/36" in proc.stderr  # the progress bar


def test_bad_inputs_are_reported_and_the_rest_processed(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    out = tmp_path / "out"
    proc = infer(str(junk), str(tmp_path / "missing.jpg"), str(IMAGES["gradient_640x480"]), "--output-dir", str(out))
    assert proc.returncode == 1
    assert "junk.mp4" in proc.stderr and "missing.jpg" in proc.stderr and "2 of 3 inputs failed" in proc.stderr
    assert (out / "gradient_640x480.npy").is_file() and "Traceback" not in proc.stderr


def test_output_dir_that_is_a_file_is_one_clear_error(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    proc = infer(str(IMAGES["gradient_640x480"]), "--output-dir", str(taken))
    assert proc.returncode != 0 and "is a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert taken.read_text() == "x"
