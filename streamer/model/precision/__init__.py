"""The network's precision: one home for choosing, building, gating, caching and describing fp32/bf16/int8.

cpu (what the CPU is: settings and order, never the verdict), calibration (real frames), quantize (the int8 file),
backends (OpenVINO / ONNX Runtime for a prepared file), gate (accuracy against fp32), choose (build, gate, race),
manager (what the daemon and the CLI call).
"""
from __future__ import annotations

from dataclasses import dataclass, field

PRECISIONS = ("fp32", "bf16", "int8")  # what can serve; fp32 is the exact reference every other one is gated against
LOW_PRECISIONS = PRECISIONS[1:]
FALLBACK = ("int8", "bf16")  # an explicit request falls back in this order, then to fp32
REQUESTS = ("auto", *PRECISIONS)  # what a user may ask for: auto = the fastest that passes the gate and beats fp32


@dataclass(frozen=True)
class PrecisionState:
    """What the network serves now and why. Read-only: the worker and the status board read it through
    `DepthModel.precision`; only the precision stage writes it, through the one `PrecisionSwitch` it holds."""

    serving: str = "fp32"
    requested: str = "fp32"
    pending: bool = False  # a low precision is being chosen or re-checked from live frames (fp32 serves meanwhile)
    reason: str = ""  # in words, with the gate's and the race's figures
    error: dict | None = field(default=None, compare=False)  # the serving precision's last gate result vs fp32
    origin: str = ""  # "measured" (gated and raced this run) or "cache" (a cached verdict, re-checked on live frames)
    builds: int = 0  # int8 quantisations this run (0 on a restart that hit the cache)
    decided_s: float | None = None  # seconds from the stage's start to this decision
    preprocess: str = "exact"  # "float32" once it passed the gate against the exact path and was faster

    def meta(self) -> dict:
        return {"precision": self.serving, "precision_requested": self.requested, "precision_pending": self.pending,
                "precision_reason": self.reason, "precision_origin": self.origin, "precision_builds": self.builds,
                "preprocess": self.preprocess,
                **({"precision_decided_s": round(self.decided_s, 2)} if self.decided_s is not None else {}),
                **({"precision_error": self.error} if self.error else {})}
