"""Which low precisions this CPU runs natively, read from /proc/cpuinfo flags (no library import needed).

bf16 needs AVX512_BF16 (Zen 4, Cooper Lake) or AMX-BF16 (Sapphire Rapids and later); int8 needs VNNI (AVX512_VNNI,
AVX-VNNI) or AMX-INT8. Without them the runtimes emulate: bf16 turns into f32 (no gain) and int8 falls back to
VPMADDUBSW, whose int16 saturation costs accuracy (ONNX Runtime's reduce_range advice). So neither is offered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")
LOW_PRECISIONS = ("int8", "bf16")


@dataclass(frozen=True)
class CpuFeatures:
    flags: frozenset[str] = field(default_factory=frozenset)
    model: str = "unknown CPU"
    note: str = ""  # why the flags are empty, when they are

    def _needs(self, precision: str) -> tuple[str, ...]:
        if precision == "bf16":
            return BF16_FLAGS
        if precision == "int8":
            return INT8_FLAGS
        return ()

    def supports(self, precision: str) -> bool:
        needs = self._needs(precision)
        return not needs or any(f in self.flags for f in needs)

    def reason(self, precision: str) -> str:
        """One line: which flag makes `precision` native here, or which flags are missing."""
        needs = self._needs(precision)
        if not needs:
            return f"{precision} runs everywhere"
        have = [f for f in needs if f in self.flags]
        if have:
            return f"{precision}: {self.model} has {', '.join(have)}"
        return (f"{precision}: {self.model} lacks {' / '.join(needs)}{f' ({self.note})' if self.note else ''}; "
                f"it would be emulated, no faster than fp32")

    def supported(self) -> list[str]:
        return [p for p in LOW_PRECISIONS if self.supports(p)]


def parse_cpuinfo(text: str) -> CpuFeatures:
    """Flags of the first processor entry (x86 `flags`, arm64 `Features`) and its model name."""
    flags: frozenset[str] | None = None
    model = "unknown CPU"
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("flags", "features") and flags is None:
            flags = frozenset(value.split())
        elif key == "model name" and model == "unknown CPU":
            model = value.strip()
    return CpuFeatures(flags or frozenset(), model, "" if flags else "no CPU flags listed")


def detect(path: str | Path = "/proc/cpuinfo") -> CpuFeatures:
    try:
        return parse_cpuinfo(Path(path).read_text(errors="replace"))
    except OSError as exc:
        return CpuFeatures(note=f"cannot read {path}: {exc.strerror or exc}")
