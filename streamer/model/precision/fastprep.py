"""Approximate preprocessing, adopted only by measurement: gated against the exact (float64) path like a precision.

Three candidates: `float32` (the same resize in float32), `uint8` (the same resize on the 8-bit image) and
`decoder-scaled` (the source's decoder scales the camera's YUV straight to the network size, the model only
normalises; it needs the frames' decoded pictures, so only a live PyAV source offers it). The fp32 network runs on
the exact input and on each candidate's input of the same held-out frames; the maps are judged by the precision gate
(gate.compare, same thresholds). Each path is timed, interleaved on those frames, with the conversion it really
pays: exact, float32 and uint8 from the decoded picture through the full-size BGR, decoder-scaled through its one
scaling pass. The fastest candidate that passes and beats exact serves; otherwise exact stays, and the reason gives
every candidate's verdict and time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from streamer.core import timing
from streamer.core.picture import Picture
from streamer.model.interface import Backend
from streamer.model.precision.gate import GateResult, Thresholds, compare
from streamer.model.preprocess import DECODER_SCALED, MODES, Preprocessor, normalise_rgb

CANDIDATES = MODES[1:]  # float32, uint8, decoder-scaled: every approximate path, in the order they are tried


def candidates_for(request: str) -> tuple[str, ...]:
    """The candidates `model.preprocess = request` tries: auto = every one, exact = none, else just that one."""
    return CANDIDATES if request == "auto" else () if request == "exact" else (request,)


@dataclass(frozen=True)
class PreprocessChoice:
    mode: str  # what serves: "exact" or one of CANDIDATES
    results: dict[str, GateResult] = field(default_factory=dict)  # each candidate tried: its gate verdict vs exact
    ms: dict[str, float] = field(default_factory=dict)  # milliseconds a frame of "exact" and each candidate tried
    notes: tuple[str, ...] = ()  # candidates not tried, and why

    @property
    def result(self) -> GateResult | None:
        """The serving candidate's gate result (None while exact serves)."""
        return self.results.get(self.mode)

    @property
    def reason(self) -> str:
        parts = []
        for mode, r in self.results.items():
            verdict = "passed" if r.passed else f"REFUSED ({r.reason})"
            faster = "" if not r.passed or self.ms[mode] < self.ms["exact"] else " but was not faster"
            parts.append(f"{mode} {verdict}{faster}, {r.summary()}, {self.ms[mode]:.2f} ms")
        if not parts:
            return f"preprocessing {self.mode} ({'; '.join(self.notes) or 'no other path tried'})"
        return (f"preprocessing {self.mode}: " + "; ".join([*parts, *self.notes]) +
                f"; exact {self.ms['exact']:.2f} ms a frame (each with its conversion from the decoded picture)")


def choose_preprocess(fp32_backend: Backend, frames: Sequence[np.ndarray | Picture], net_size: int,
                      thresholds: Thresholds, candidates: Sequence[str] = CANDIDATES) -> PreprocessChoice:
    """Gate and time each candidate preprocessing against the exact one on these held-out frames (BGR arrays, or
    the source's pictures: only pictures whose decoder can scale allow decoder-scaled), through the fp32 network."""
    pictures = [f if isinstance(f, Picture) else Picture.of(f) for f in frames]
    exact, fast = Preprocessor(net_size), Preprocessor(net_size, exact=False)
    small = Preprocessor(net_size, mode="uint8")
    scaling = all(p.can_scale for p in pictures)
    # What each path pays from a decoded picture: a picture that came as a BGR array had its conversion already.
    bgr = (lambda p: p.convert_bgr()) if scaling else (lambda p: p.bgr())

    def scaled(p: Picture) -> np.ndarray:
        return normalise_rgb(p.convert_scaled(*exact.size_for(p.width, p.height)))

    paths = {"exact": lambda p: exact(bgr(p)), "float32": lambda p: fast(bgr(p)), "uint8": lambda p: small(bgr(p)),
             DECODER_SCALED: scaled}
    notes = []
    if DECODER_SCALED in candidates and not scaling:
        notes.append(f"{DECODER_SCALED} not tried (the frames do not come from a decoder that can scale)")
    tried = [c for c in candidates if c != DECODER_SCALED or scaling]
    reference = [fp32_backend.infer(exact(p.bgr())) for p in pictures]
    results = {}
    for mode in tried:
        candidate = [fp32_backend.infer(paths[mode](p)) for p in pictures]
        results[mode] = compare(reference, candidate, f"{mode} preprocessing", thresholds)
    ms = timing.race({m: paths[m] for m in ("exact", *tried)}, pictures, rounds=6)  # interleaved, same frames
    winners = [m for m in tried if results[m].passed and ms[m] < ms["exact"]]
    mode = min(winners, key=ms.__getitem__) if winners else "exact"
    return PreprocessChoice(mode, results, ms, tuple(notes))
