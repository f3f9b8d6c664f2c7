"""`bench batching` runs end to end: both fixed-batch exports, each round timed, the side-by-side sessions, and the
ratios computed from what was timed (the figures themselves are for a quiet machine, not for a test)."""
from __future__ import annotations

import re
import subprocess

from tests.conftest import SEED_WEIGHTS, cli, subprocess_env


def test_batching_prints_each_round_and_the_median():
    proc = subprocess.run(cli("bench", "batching", "--weights", str(SEED_WEIGHTS), "--seconds", "0.3", "--rounds",
                              "2", "--batch", "3"), capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    rounds = re.findall(r"round \d: batch 1 ([\d.]+) fps, batch 3 ([\d.]+) fps = ([\d.]+)x", proc.stdout)
    assert len(rounds) == 2, proc.stdout
    for one, many, ratio in rounds:
        assert float(one) > 0 and float(many) > 0
        assert abs(float(many) / float(one) - float(ratio)) <= 0.05 * float(ratio) + 0.01  # of the rates printed
    assert re.search(r"3 one-thread sessions side by side: [\d.]+ fps", proc.stdout), proc.stdout
    assert re.search(r"batch 3 / batch 1: median [\d.]+x", proc.stdout), proc.stdout
