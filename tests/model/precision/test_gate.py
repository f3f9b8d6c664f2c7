"""gate.py: the accuracy gate's arithmetic (scale and shift aligned, errors flagged)."""
from __future__ import annotations

import numpy as np

from streamer.model.precision.gate import Thresholds, compare, frame_error


def test_gate_aligns_scale_and_shift_and_flags_errors():
    rng = np.random.default_rng(0)
    ref = [rng.random((48, 64)).astype(np.float32) * 1000 for _ in range(4)]
    assert compare(ref, [r * 0.01 + 5 for r in ref]).nmae < 1e-6  # scale and shift are free
    ok = compare(ref, [r + rng.normal(0, 2, r.shape) for r in ref], "int8")
    assert ok.passed and 0 < ok.nmae < 0.035 and ok.corr > 0.999 and ok.frames == 4
    bad = compare(ref, [rng.random(r.shape) for r in ref], "int8")
    assert not bad.passed and "max_nmae" in bad.reason and "min_corr" in bad.reason
    one_bad = compare(ref, [ref[0] + rng.normal(0, 100, ref[0].shape), *ref[1:]], "bf16",
                      Thresholds(max_nmae=1.0, max_frame_nmae=0.2, min_corr=0.0))
    assert not one_bad.passed and "worst frame" in one_bad.reason  # the mean alone would pass
    flat = compare([np.ones((8, 8))] * 2, [np.ones((8, 8))] * 2)
    assert not flat.passed and flat.frames == 0 and "no held-out frame" in flat.reason
    assert frame_error(ref[0], np.full_like(ref[0], np.nan)) == (float("inf"), 0.0)
    assert not compare(ref[:1], [np.full_like(ref[0], np.nan)]).passed
