"""`AnchorFit`: how one frame's metric map was anchored and what it is worth; every metric output carries it.

Its `header()` is the `anchor` block of every wire header, /stats and the page: the fit (scale, shift, how many
points it used, how well they agree), how old it is, and the verdict on the map (`geometry.verdict`): good |
uncertain | refused, the reason in words, the expected AbsRel and the evidence it rests on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MODES = ("off", "ground", "points", "fixed")


@dataclass(frozen=True, slots=True)
class AnchorFit:
    """How the metric map of one frame was anchored. `ok` false: no usable fit (or the verdict refused it), and no
    metric map is published."""

    mode: str  # off | ground | points | fixed
    ok: bool
    scale: float = 0.0  # 1 / z = scale * depth + shift, `depth` being the frame's steadied relative map
    shift: float = 0.0
    used: int = 0  # anchors with a weight in the fit (points) or floor pixels the fit rests on (ground)
    inliers: float = 0.0  # share of the candidates that agreed with the fit (0..1)
    residual: float = float("nan")  # median relative depth error |z_fit / z - 1| over the used points
    age_s: float = 0.0  # how old the measurement behind this fit is (a held fit ages until it is dropped)
    reason: str = ""  # why the fit failed, what was rejected, or that an older fit is being held
    verdict: str = "refused"  # good | uncertain | refused: what the map is worth (`geometry.verdict`)
    verdict_reason: str = ""  # the verdict's reason, in words
    expected_abs_rel: float = float("nan")  # the map's predicted AbsRel (without reading any truth)
    evidence: dict | None = None  # what the verdict rests on (`Evidence.header`)

    def header(self) -> dict:
        """The `anchor` block of wire headers and /stats: {mode, used, residual, inliers, age_s, verdict, ...}."""
        return {"mode": self.mode, "ok": self.ok, "used": self.used, "residual": _num(self.residual),
                "inliers": round(self.inliers, 4), "age_s": _num(round(self.age_s, 3)), "scale": _num(self.scale),
                "shift": _num(self.shift), "reason": self.reason, "verdict": self.verdict,
                "verdict_reason": self.verdict_reason,
                "expected_abs_rel": _num(round(self.expected_abs_rel, 4)), "evidence": self.evidence}


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
