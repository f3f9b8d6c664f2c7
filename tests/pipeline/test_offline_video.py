"""A video's span (`Span`): decoding from the warm-up keyframe, the frames before the span's start only warm the
steady stage up, and from its first written frame the pictures equal one pass's over the whole video; without the
warm-up they would not (the test can tell)."""
from __future__ import annotations

import io

import numpy as np

from streamer.model import ModelOptions, load_depth_model
from streamer.pipeline.offline_video import Span, encode_video
from streamer.render import renderer
from streamer.render.colorize import ColorOptions
from streamer.steady import SteadyOptions
from tests.batch.bags import write_video
from tests.conftest import SEED_WEIGHTS

RATE, FRAMES, GOP = 10, 48, 8  # 4.8 s, a keyframe every 0.8 s
S = 1_000_000_000 // RATE  # one frame, ns


def test_span_after_warm_up_equals_one_pass(tmp_path, monkeypatch):
    video = write_video(tmp_path / "walk.mp4", count=FRAMES, fps=RATE, gop=GOP)
    model = load_depth_model(ModelOptions(precision="fp32", threads=1), str(SEED_WEIGHTS))
    pictures: list[np.ndarray] = []
    draw = renderer.FrameRenderer.image

    def image(self, frame, view):  # the real renderer; its pictures kept as the encoder gets them
        pictures.append(draw(self, frame, view))
        return pictures[-1]

    monkeypatch.setattr(renderer.FrameRenderer, "image", image)
    steady = SteadyOptions(range_alpha=0.5, ema_alpha=0.5)  # 16 warm-up frames leave 0.5^16 of either average

    def run(span: Span | None) -> tuple[list[np.ndarray], int, int]:
        pictures.clear()
        result = encode_video(model, video, tmp_path / "out.mp4", view="depth", colors=ColorOptions(), steady=steady,
                              progress_stream=io.StringIO(), span=span)
        return [p.astype(np.int16) for p in pictures], result.frames, result.warmup

    whole, frames, _ = run(None)
    assert frames == FRAMES
    part, frames, warmup = run(Span(16 * S, 32 * S, 40 * S))
    assert (frames, warmup) == (8, 16)  # frames 32..39 written, 16..31 warmed the steady stage up
    # the same pictures but for a colormap step here and there where the units' rounding differs: under 1 % of the
    # pixels, a few levels each, fading as the warm-up's remainder does
    diffs = [np.abs(a - b) for a, b in zip(part, whole[32:40], strict=True)]
    assert max(float((d > 0).mean()) for d in diffs) < 0.01 and max(float(d.mean()) for d in diffs) < 0.02
    cold, frames, warmup = run(Span(32 * S, 32 * S, 40 * S))  # no warm-up: the steady stage starts at the cut
    assert (frames, warmup) == (8, 0)
    cold_diff = float(np.abs(cold[0] - whole[32]).mean())
    assert cold_diff > 2.0, cold_diff  # 100 x the bound above (23.8 levels measured)
