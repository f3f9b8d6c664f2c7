"""fastprep.py: float32 preprocessing gated against the exact path and timed against it."""
from __future__ import annotations

from streamer.model.precision.calibration import load_frame_set
from streamer.model.precision.fastprep import choose_preprocess
from streamer.model.precision.gate import Thresholds
from tests.conftest import VIDEO
from tests.model.precision.fakes import Fake


def test_float32_preprocessing_is_gated_against_the_exact_path_and_timed():
    frames = load_frame_set(VIDEO / "realshort.mp4", 4, 4).held_out
    fp32 = Fake()  # a deterministic "network": a fixed linear map of the input
    choice = choose_preprocess(fp32, frames, 256, Thresholds())
    assert choice.result.passed and choice.result.nmae < 1e-4 and choice.result.frames == len(frames)
    assert choice.exact_ms > 0 and choice.float32_ms > 0
    assert choice.mode == ("float32" if choice.float32_ms < choice.exact_ms else "exact")  # faster AND passed
    assert f"{choice.float32_ms:.2f} ms vs exact {choice.exact_ms:.2f} ms" in choice.reason
    strict = choose_preprocess(fp32, frames, 256, Thresholds(max_nmae=0.0, max_frame_nmae=0.0, min_corr=1.0))
    assert strict.mode == "exact" and not strict.result.passed and "REFUSED" in strict.reason  # any error: refused
