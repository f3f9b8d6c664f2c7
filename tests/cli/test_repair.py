"""`depth-streamer repair`: the recorder's crash repair on a bag cut short, as the bag source's message offers it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rosbags.rosbag2 import Reader

from tests.conftest import cli, subprocess_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from test_bag import write_bag  # noqa: E402 -- the bag writer of the source tests


def test_repair_keeps_the_complete_messages_of_a_cut_bag(tmp_path):
    bag = write_bag(tmp_path / "cut", "bgr8", count=6)
    (storage,) = bag.glob("*.mcap")
    storage.write_bytes(storage.read_bytes()[:-300])
    (bag / "metadata.yaml").unlink()
    proc = subprocess.run(cli("repair", str(bag)), capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert proc.returncode == 0 and "repaired" in proc.stdout, proc.stderr
    with Reader(bag) as reader:
        kept = [c.topic for c, _, _ in reader.messages()]
    assert kept.count("/camera/image_raw") >= 5
    bad = subprocess.run(cli("repair", str(tmp_path / "nope.txt")), capture_output=True, text=True, timeout=60,
                         env=subprocess_env())
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
