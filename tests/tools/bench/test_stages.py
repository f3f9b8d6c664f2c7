"""`bench stages` on real frames: every stage outside the network is timed and the figures add up."""
from __future__ import annotations

from streamer.tools.bench.stages import bench_stages
from tests.conftest import VIDEO


def test_every_stage_is_timed(capsys):
    ms = bench_stages(str(VIDEO / "realshort.mp4"), frames=12)
    alternative = ms.pop("preprocess_float32")  # timed beside the exact one, not part of the total
    uint8 = ms.pop("preprocess_uint8")  # likewise
    scaled = ms.pop("decoder_scaled")  # likewise: instead of to_bgr + preprocess
    assert set(ms) == {"decode", "to_bgr", "preprocess", "steady", "colorize_view", "jpeg"}
    assert all(v > 0 for v in ms.values()) and alternative > 0, ms
    out = capsys.readouterr().out
    assert "12 frames 320x240" in out and f"{sum(ms.values()):6.2f} ms per frame outside the network" in out
    assert f"preprocess in float32 instead: {alternative:6.2f} ms" in out
    assert uint8 > 0 and f"preprocess in uint8 instead:   {uint8:6.2f} ms" in out
    assert scaled > 0 and f"decoder-scaled instead of to_bgr + preprocess: {scaled:6.2f} ms" in out
    assert f"{scaled / (ms['to_bgr'] + ms['preprocess']):.2f}x the exact path's" in out
