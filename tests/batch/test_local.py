"""The local executor: a worker process killed in the middle of a unit is replaced and the unit run again; the run
completes with every unit recorded once and the same bytes as a run nobody disturbed."""
from __future__ import annotations

import subprocess
from collections import Counter

from tests.batch.bags import write_bag
from tests.batch.conftest import run_batch
from tests.batch.faults import kill_worker_mid_unit, manifest_rows, output_files
from tests.conftest import SEED_WEIGHTS, cli, subprocess_env


def test_killed_worker_is_replaced_and_its_unit_runs_once(tmp_path):
    bags = [write_bag(tmp_path / "a", count=12), write_bag(tmp_path / "b", count=5)]
    args = ("--segment-s", "0.6", "--warmup-s", "0.3", "--workers", "2")
    calm = run_batch(*bags, "--out", tmp_path / "calm", *args)
    assert calm.returncode == 0, calm.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli("batch", *map(str, bags), "--out", str(out), *args, "--weights", str(SEED_WEIGHTS),
                                "--threads", "1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())
    try:
        killed = kill_worker_mid_unit(out, proc)
        _, stderr = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert f"worker {killed} died" in stderr
    done = Counter(r["unit"] for r in manifest_rows(out) if r["status"] == "done")
    assert len(done) == 3 and set(done.values()) == {1}, done  # a: two segments, b: one
    assert output_files(out) == output_files(tmp_path / "calm")
