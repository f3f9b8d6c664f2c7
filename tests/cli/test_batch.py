"""`depth-streamer batch` as a user runs it: bad inputs each one clear line while the others are processed, an
unwritable --out refused before any work, resume after a finished run and after Ctrl-C, videos and images written
as `infer` writes them, and `--executor ray` without Ray one line naming the extra."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.batch.bags import write_bag
from tests.batch.conftest import _batch_cache, run_batch, shared_cache  # noqa: F401 (pytest fixtures)
from tests.batch.faults import manifest_rows, output_files
from tests.conftest import IMAGES, SEED_WEIGHTS, VIDEO, cli, subprocess_env


def test_bad_inputs_each_get_one_line_and_the_good_one_is_done(tmp_path):
    good = write_bag(tmp_path / "good", count=4)
    other = write_bag(tmp_path / "other", count=3, topic="/front/image", extra_image_topic="/rear/image")
    mcap = (good / "good.mcap").read_bytes()
    (tmp_path / "torn.mcap").write_bytes(mcap[: len(mcap) // 2])  # a recording cut off mid-write
    (tmp_path / "junk.mcap").write_bytes(os.urandom(4096))
    (tmp_path / "notes.txt").write_text("not a recording")
    proc = run_batch(good, other, tmp_path / "torn.mcap", tmp_path / "junk.mcap", tmp_path / "notes.txt",
                     tmp_path / "missing", "--topic", "/camera/image_raw", "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert (tmp_path / "out" / "good.depth" / "metadata.yaml").is_file()
    err = proc.stderr
    assert "no image topic '/camera/image_raw'; its image topics: /front/image, /rear/image" in err
    assert "torn.mcap: cannot read the bag" in err and "junk.mcap: cannot read the bag" in err
    assert "notes.txt: not a ROS 2 bag, a video or an image" in err and "missing: no such file" in err
    assert "5 input(s) failed" in err
    rows = manifest_rows(tmp_path / "out")
    assert [r["status"] for r in rows] == ["done", "assembled"]


def test_several_image_topics_and_none_chosen_lists_them(tmp_path):
    bag = write_bag(tmp_path / "two", count=2, extra_image_topic="/rear/image")
    proc = run_batch(bag, "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert "several image topics (/camera/image_raw, /rear/image); choose one with --topic" in proc.stderr


def test_unwritable_out_is_refused_before_any_work(tmp_path):
    bag = write_bag(tmp_path / "bag", count=2)
    (tmp_path / "file").write_text("x")
    proc = run_batch(bag, "--out", tmp_path / "file" / "sub")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 1 and "--out" in lines[0] and "sub" in lines[0]
    assert "batch [" not in proc.stderr  # nothing was planned, no model loaded


def test_ray_without_ray_is_one_line_naming_the_extra(tmp_path):
    bag = write_bag(tmp_path / "bag", count=2)
    code = ("import sys; sys.modules['ray'] = None; from streamer.cli import main; "
            f"sys.exit(main(['batch', {str(bag)!r}, '--out', {str(tmp_path / 'out')!r}, '--executor', 'ray', "
            f"'--weights', {str(SEED_WEIGHTS)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=subprocess_env())
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("--executor ray needs Ray: pip install 'depth-streamer[ray]'")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("lions", "turtle"):
        shutil.copy(IMAGES[name], folder)
    return folder


def test_videos_and_images_as_infer_writes_them_and_a_rerun_skips_them(tmp_path, images):
    out = tmp_path / "out"
    first = run_batch(VIDEO / "realshort.mp4", images, "--out", out, "--raw")
    assert first.returncode == 0, first.stderr
    for name in ("realshort.depth.mp4", "realshort.depth.npz", "shots/lions.npy", "shots/lions.png",
                 "shots/turtle.npy", "shots/turtle.png"):
        assert (out / name).is_file(), name
    assert np.load(out / "realshort.depth.npz")["depth"].shape[0] == 36
    infer = subprocess.run(cli("infer", str(images / "lions.jpg"), "--output-dir", str(tmp_path / "infer"),
                               "--weights", str(SEED_WEIGHTS), "--threads", "1"), capture_output=True, text=True,
                           timeout=300, env=subprocess_env())
    assert infer.returncode == 0, infer.stderr
    np.testing.assert_allclose(np.load(out / "shots/lions.npy"), np.load(tmp_path / "infer" / "lions.npy"),
                               rtol=1e-5, atol=1e-5)
    before = {p: (out / p).stat().st_mtime_ns for p in output_files(out)}
    again = run_batch(VIDEO / "realshort.mp4", images, "--out", out, "--raw")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(1 done before)") == 2
    assert {p: (out / p).stat().st_mtime_ns for p in output_files(out)} == before
    assert len(manifest_rows(out)) == 2  # nothing ran again


def test_ctrl_c_keeps_finished_units_and_a_rerun_finishes(tmp_path):
    bags = [write_bag(tmp_path / f"bag{i}", count=12) for i in range(3)]
    out = tmp_path / "out"
    proc = subprocess.Popen(cli("batch", *map(str, bags), "--out", str(out), "--workers", "1", "--weights",
                                str(SEED_WEIGHTS), "--threads", "1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(), start_new_session=True)
    manifest = out / "batch.manifest.jsonl"
    deadline = time.monotonic() + 300
    while not (manifest.exists() and '"assembled"' in manifest.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    finished = [r for r in manifest_rows(out) if r["status"] == "assembled"]
    assert 1 <= len(finished) < 3
    for path in out.glob("*.depth"):  # under a final name, only whole bags
        assert (path / "metadata.yaml").is_file() and any(path.glob("*.mcap"))
    assert sorted(p.name for p in out.glob("*.depth")) == sorted(r["output"] for r in finished)
    rerun = run_batch(*bags, "--out", out, "--workers", "1")
    assert rerun.returncode == 0, rerun.stderr
    rows = manifest_rows(out)
    assert sorted(r["output"] for r in rows if r["status"] == "assembled") == ["bag0.depth", "bag1.depth",
                                                                             "bag2.depth"]
    assert sum(r["status"] == "done" for r in rows) == 3  # the units finished before were not run again
    assert json.loads(manifest.read_text().splitlines()[0])["frames"] == 12
