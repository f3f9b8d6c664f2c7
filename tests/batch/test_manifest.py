"""The manifest: a torn last line (power cut mid-append) is ignored, the newest row of a unit decides, an error row
means run it again, and rows survive a reopen."""
from __future__ import annotations

from streamer.batch.manifest import NAME, Manifest


def test_rows_decide_what_runs_again(tmp_path):
    m = Manifest(tmp_path)
    m.append({"unit": "a", "status": "error", "error": "corrupt"})
    m.append({"unit": "b", "status": "done", "frames": 3})
    m.append({"unit": "a", "status": "done", "frames": 5})
    m.append({"input": "x", "sha256": "s", "status": "assembled", "output": "x.depth"})
    with open(tmp_path / NAME, "a") as f:
        f.write('{"unit": "c", "status": "do')  # torn
    again = Manifest(tmp_path)
    assert again.done("a")["frames"] == 5 and again.done("b")["frames"] == 3 and again.done("c") is None
    assert again.assembled("s", "x.depth") is not None and again.assembled("t", "x.depth") is None
    again.append({"unit": "b", "status": "error", "error": "input changed"})
    assert Manifest(tmp_path).done("b") is None
