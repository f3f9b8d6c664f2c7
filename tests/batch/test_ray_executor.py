"""`--executor ray` on a real two-node Ray cluster on 127.0.0.1: three bags (one cut into segments) and two videos (one
cut at keyframes), one worker process killed mid-unit. The run completes, every unit appears once, and every output
is byte for byte what the local executor writes (fp32, one thread per worker)."""
from __future__ import annotations

import signal
from collections import Counter

import pytest
import ray  # noqa: F401 -- the [ray] extra: `make test` installs it; without it this module fails, loudly
from rosbags.rosbag2 import StoragePlugin

from tests.batch.bags import write_bag, write_video
from tests.batch.cluster import local_cluster
from tests.batch.conftest import run_batch
from tests.batch.faults import bar_counts, manifest_rows, output_files, run_signalling_a_worker
from tests.conftest import SEED_WEIGHTS, cli

ARGS = ("--segment-s", "0.7", "--warmup-s", "0.3", "--raw")


@pytest.fixture(scope="module")
def cluster(shared_cache, tmp_path_factory):
    with local_cluster(shared_cache, tmp_path_factory.mktemp("ray-logs")) as (address, env):
        yield address, env


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    return [write_bag(root / "short", count=5), write_bag(root / "long", count=14),
            write_bag(root / "jpeg", count=5, storage=StoragePlugin.SQLITE3, compressed=True),
            write_video(root / "small.mp4", count=12, gop=4), write_video(root / "other.mp4", count=6)]


def test_ray_run_with_a_killed_worker_equals_a_local_run(cluster, inputs, tmp_path):
    address, env = cluster
    local = run_batch(*inputs, "--out", tmp_path / "local", *ARGS, "--workers", "2")
    assert local.returncode == 0, local.stderr
    out = tmp_path / "ray"
    cmd = cli("batch", *map(str, inputs), "--out", str(out), *ARGS, "--weights", str(SEED_WEIGHTS), "--threads", "1",
              "--executor", "ray", "--ray-address", address)
    _, run = run_signalling_a_worker(cmd, out, env)  # the worker: never the driver (faults.py)
    stdout, stderr = run.stdout, run.stderr
    assert run.returncode == 0, stderr[-4000:]
    rows = manifest_rows(out)
    done = Counter(r["unit"] for r in rows if r["status"] == "done")
    assert len(done) == 7 and set(done.values()) == {1}, done  # long.bag, small.mp4: 2 segments each; once
    assert not [r for r in rows if r["status"] == "error"]
    assert sum(r["status"] == "assembled" for r in rows) == 4
    assert {r["unit"]: r["output_sha256"] for r in rows if r["status"] == "done"} == \
        {r["unit"]: r["output_sha256"] for r in manifest_rows(tmp_path / "local") if r["status"] == "done"}
    assert output_files(out) == output_files(tmp_path / "local")
    assert len(output_files(out)) == 3 * 2 + 2 * 2  # three bags (mcap + metadata.yaml), two videos (mp4 + npz)
    assert "long.depth" in stdout and "small.depth.mp4" in stdout
    bar = bar_counts(stderr)  # the killed actor's frames counted once: the bar ends at its total, never above
    assert bar and bar[-1][0] == bar[-1][1] and all(done <= total for done, total in bar), bar


def test_a_wedged_actor_is_killed_after_stall_s_and_its_unit_runs_again(cluster, inputs, tmp_path):
    """An actor stopped mid-unit (SIGSTOP: alive and silent, as one stuck in a read) is killed by the driver once its
    unit has made no progress for [batch] stall_s; Ray restarts it and runs the unit again; the run completes."""
    address, env = cluster
    out = tmp_path / "ray"
    cmd = cli("batch", str(inputs[1]), "--out", str(out), "--segment-s", "0", "--set", "batch.stall_s=3",
              "--weights", str(SEED_WEIGHTS), "--threads", "1", "--executor", "ray", "--ray-address", address)
    stopped, run = run_signalling_a_worker(cmd, out, env, signal.SIGSTOP)
    stderr = run.stderr
    assert run.returncode == 0, stderr[-4000:]
    assert "its Ray actor reported nothing for " in stderr and "([batch] stall_s 3): killing it" in stderr, stderr
    rows = [r for r in manifest_rows(out) if r["status"] == "done"]
    assert len(rows) == 1 and rows[0]["frames"] == 14 and not rows[0]["worker"].endswith(f":{stopped}"), rows
