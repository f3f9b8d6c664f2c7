"""fastprep.py: float32 and decoder-scaled preprocessing, each gated against the exact path through the fp32 network
on the same held-out real frames and timed with the conversion it pays; served only when it passed and was faster.
No test asserts which path one machine serves: the invariant is asserted."""
from __future__ import annotations

import av
import pytest

from streamer.model import build_network
from streamer.model.backends import OnnxRuntimeBackend
from streamer.model.precision.calibration import FrameCollector, load_frame_set
from streamer.model.precision.fastprep import CANDIDATES, PreprocessChoice, candidates_for, choose_preprocess
from streamer.model.precision.gate import Thresholds
from streamer.model.preprocess import DECODER_SCALED
from streamer.model.weights import identify, read_state_dict
from streamer.sources.av_source import AvPicture
from tests.conftest import MIDAS, SEED_WEIGHTS, VIDEO
from tests.model.precision.fakes import Fake

PROXY_WEIGHTS = MIDAS / "trained_proxy.pt"
LOOSE = Thresholds(max_nmae=0.5, max_frame_nmae=1.0, min_corr=0.5)  # any path that is not garbage passes


def assert_measured(choice: PreprocessChoice, tried: set[str]) -> None:
    """The invariant: a candidate serves only if it passed the gate and was the fastest of those that passed and beat
    exact; otherwise exact serves. Every candidate's verdict and time are in the reason."""
    assert set(choice.results) == tried and set(choice.ms) == {"exact", *tried}
    assert all(ms > 0 for ms in choice.ms.values())
    winners = {m for m, r in choice.results.items() if r.passed and choice.ms[m] < choice.ms["exact"]}
    assert choice.mode == (min(winners, key=choice.ms.__getitem__) if winners else "exact"), choice.reason
    if choice.mode != "exact":
        assert choice.result is choice.results[choice.mode] and choice.result.passed
    assert choice.reason.startswith(f"preprocessing {choice.mode}: ")
    assert f"exact {choice.ms['exact']:.2f} ms a frame" in choice.reason
    for mode, r in choice.results.items():
        assert f"{mode} {'passed' if r.passed else 'REFUSED (' + r.reason + ')'}" in choice.reason
        assert f"{r.summary()}, {choice.ms[mode]:.2f} ms" in choice.reason
        if r.passed and mode not in winners:
            assert f"{mode} passed but was not faster" in choice.reason


def pictures(n: int = 8, every: int = 15) -> list[AvPicture]:
    """Held-out frames as the live source hands them over: decoded pictures, nothing converted yet."""
    out = []
    with av.open(str(VIDEO / "cockatoo_640x480.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                out.append(AvPicture(frame))
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def held_out():
    return pictures()


def fp32(weights, tmp_path_factory):
    return OnnxRuntimeBackend(identify(weights).sha256, lambda: build_network(read_state_dict(weights)),
                              tmp_path_factory.mktemp("onnx"), threads=2)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    return fp32(PROXY_WEIGHTS, tmp_path_factory)


def test_float32_and_uint8_preprocessing_are_gated_against_the_exact_path_and_timed():
    frames = load_frame_set(VIDEO / "realshort.mp4", 4, 4).held_out  # BGR arrays: no decoder to scale with
    fp32 = Fake()  # a deterministic "network": a fixed linear map of the input
    choice = choose_preprocess(fp32, frames, 256, Thresholds())
    assert_measured(choice, {"float32", "uint8"})
    r = choice.results["float32"]
    assert r.passed and r.nmae < 1e-4 and r.frames == len(frames)
    assert f"{DECODER_SCALED} not tried (the frames do not come from a decoder that can scale)" in choice.reason
    strict = choose_preprocess(fp32, frames, 256, Thresholds(max_nmae=0.0, max_frame_nmae=0.0, min_corr=1.0))
    assert strict.mode == "exact" and not any(r.passed for r in strict.results.values())  # any error: refused
    assert "float32 REFUSED" in strict.reason and "uint8 REFUSED" in strict.reason


def test_decoder_scaled_is_gated_on_trained_weights_and_served_only_if_it_passes_and_wins(proxy, held_out):
    choice = choose_preprocess(proxy, held_out, 256, Thresholds())  # the daemon's thresholds
    assert_measured(choice, set(CANDIDATES))
    for mode in CANDIDATES:  # every approximate path: its error is measured on every held-out frame, never zero
        assert choice.results[mode].frames == len(held_out) and choice.results[mode].nmae > 0, mode


def test_decoder_scaled_within_loose_thresholds_is_served_when_faster(proxy, held_out):
    choice = choose_preprocess(proxy, held_out, 256, LOOSE, candidates=(DECODER_SCALED,))
    assert choice.results[DECODER_SCALED].passed  # the adoption path: what remains is the race
    assert_measured(choice, {DECODER_SCALED})
    assert (choice.mode == DECODER_SCALED) == (choice.ms[DECODER_SCALED] < choice.ms["exact"])


def test_decoder_scaled_is_refused_on_random_weights(tmp_path_factory, held_out):
    choice = choose_preprocess(fp32(SEED_WEIGHTS, tmp_path_factory), held_out, 256, Thresholds())
    assert_measured(choice, set(CANDIDATES))
    assert not choice.results[DECODER_SCALED].passed and choice.mode != DECODER_SCALED
    assert f"{DECODER_SCALED} REFUSED (" in choice.reason


def test_the_live_collector_keeps_pictures_and_the_gate_gets_them():
    collector = FrameCollector(8, 0.0)
    for k, picture in enumerate(pictures(8, 3)):
        collector.offer(picture, float(k))
    assert collector.done and not any(p.converted for p in collector.frames)  # nothing converted on the hot path
    frames = collector.frame_set(3)
    assert len(frames.held_out_pictures) == len(frames.held_out) == 3
    assert all(p.bgr() is bgr for p, bgr in zip(frames.held_out_pictures, frames.held_out, strict=True))
    assert not load_frame_set(VIDEO / "realshort.mp4", 4, 4).held_out_pictures  # from a file: BGR only


def test_model_preprocess_chooses_the_candidates():
    assert candidates_for("auto") == CANDIDATES == ("float32", "uint8", DECODER_SCALED)
    assert candidates_for("exact") == () and candidates_for(DECODER_SCALED) == (DECODER_SCALED,)
