"""The precision stage's memory: the live frames it keeps for re-checks are network-size copies, not the camera's
pictures (16 pictures of 640x480 held ~22 MB for the whole run; at network size ~2.4 MB)."""
from __future__ import annotations

import numpy as np

from streamer.core.frame import CapturedFrame
from streamer.core.picture import Picture
from streamer.model import DepthModel, ModelOptions
from streamer.model.precision import PrecisionState
from streamer.model.weights import identify
from streamer.pipeline.precision import PrecisionStage
from tests.conftest import SEED_WEIGHTS
from tests.model.precision.fakes import Fake


def test_recheck_frames_are_kept_at_network_size_spread_over_time():
    model = DepthModel(Fake(), identify(SEED_WEIGHTS), net_size=256)  # type: ignore[arg-type]
    stage = PrecisionStage(model, ModelOptions(precision="fp32", recheck_s=8.0, gate_frames=4))
    pictures = []
    for i in range(3):  # fp32 serves: nothing to re-check, nothing kept
        stage.offer(CapturedFrame(i, Picture.of(np.full((480, 640, 3), i, np.uint8)), 0.0, float(i)))
        stage.keep_recent()
    assert stage.recent_frames() == []
    stage.switch.set(PrecisionState("int8", "int8"), Fake(precision="int8"))  # as after a decision
    for i in range(3, 14):  # one frame every recheck_s / gate_frames = 2 s of capture time, the newest 4
        picture = Picture.of(np.full((480, 640, 3), i, np.uint8))
        pictures.append(picture)
        stage.offer(CapturedFrame(i, picture, 0.0, float(i)))
        stage.keep_recent()  # the stage's thread, between frames
    kept = stage.recent_frames()
    assert [int(f[0, 0, 0]) for f in kept] == [7, 9, 11, 13]
    assert {f.shape for f in kept} == {(192, 256, 3)}
    assert not any(np.shares_memory(f, p.bgr()) for f in kept for p in pictures)  # copies: no picture is held
