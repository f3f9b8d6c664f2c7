"""`depth-streamer infer` as a user runs it: videos through the lossless path into an H.264 depth video (+ raw maps),
images beside them, names that never collide, and clear errors that lose nothing."""
from __future__ import annotations

import os
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


def test_ctrl_c_during_a_video_leaves_no_partial_file_under_the_final_name(tmp_path):
    """Ctrl-C mid-video used to leave NAME.depth.mp4 with some of the frames and no message."""
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen(cli("infer", "--weights", str(SEED_WEIGHTS), str(VIDEO / "cockatoo_640x480.mp4"),
                                "--output-dir", str(out)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=subprocess_env(), start_new_session=True)
    try:
        partial = out / ".cockatoo_640x480.depth.mp4.part"
        deadline = time.monotonic() + 240
        while not (partial.is_file() and partial.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.1)  # frames are being written under the temporary name
        assert partial.is_file(), "the video never started"
        proc.send_signal(signal.SIGINT)
        log, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, log
    assert sorted(p.name for p in out.iterdir()) == [], log  # neither the final name nor the partial file
    assert "interrupted; the partial depth video was removed" in log and "Traceback" not in log, log


def test_an_output_dir_that_cannot_be_written_is_named_before_the_model_loads(tmp_path):
    """Into a read-only folder `infer` used to blame its input ("cannot read INPUT ... Read-only file system")."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            target = "/proc/depth-streamer-nowhere"  # root writes anywhere but /proc: a folder it cannot make
        else:
            target = str(locked)
        proc = infer(str(IMAGES["gradient_640x480"]), "--output-dir", target)
    finally:
        locked.chmod(0o700)
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert f"cannot write to --output-dir {target}" in errors[0], errors[0]
    assert "cannot read" not in proc.stderr and "exporting" not in proc.stderr  # nothing loaded, input not blamed
