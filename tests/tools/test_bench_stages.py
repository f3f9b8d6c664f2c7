"""`bench stages` on real frames: every stage outside the network is timed and the figures add up."""
from __future__ import annotations

from streamer.tools.bench.stages import bench_stages
from tests.conftest import VIDEO


def test_every_stage_is_timed(capsys):
    ms = bench_stages(str(VIDEO / "realshort.mp4"), frames=12)
    assert set(ms) == {"decode", "to_bgr", "preprocess", "steady", "colorize_view", "jpeg"}
    assert all(v > 0 for v in ms.values()), ms
    out = capsys.readouterr().out
    assert "12 frames 320x240" in out and f"{sum(ms.values()):6.2f} ms per frame outside the network" in out
