"""What this CPU is, read from /proc/cpuinfo (no library import needed): it chooses *settings* and the order of
trying, never whether a precision serves - that is measured (choose.py: the gate, then a race against fp32).

x86 lists `flags`: int8 has native dot products with AVX512_VNNI, AVX-VNNI or AMX-INT8; without them the runtimes
use VPMADDUBSW, whose int16 accumulator saturates with 8-bit weights, so int8 is quantised with `reduce_range`
(7-bit weights: measured on an AVX2-only Zen 3, 4.15 % -> 2.91 % NMAE and no slower). bf16 is native with
AVX512_BF16 or AMX-BF16; elsewhere OpenVINO emulates it in fp32 (same numbers, slower), so it loses the race.
arm64 lists `Features`: `asimddp` (SDOT/UDOT, Cortex-A76 and later) and `i8mm` (SMMLA, Armv8.6) are int8 dot
products, `bf16` is BFDOT/BFMMLA; the Arm int8 kernels do not saturate, so no `reduce_range` there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamer.model.precision import FALLBACK, LOW_PRECISIONS

NATIVE = {  # (arch, precision) -> flags any one of which makes it native
    ("x86", "int8"): ("amx_int8", "avx512_vnni", "avx_vnni"),
    ("x86", "bf16"): ("amx_bf16", "avx512_bf16"),
    ("arm", "int8"): ("i8mm", "asimddp"),
    ("arm", "bf16"): ("bf16",),
}
ARM_PARTS = {  # CPU implementer 0x41 (Arm Ltd) part numbers: the kernel prints no model name on arm64
    "0xd03": "Cortex-A53", "0xd05": "Cortex-A55", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd42": "Cortex-A78AE",
    "0xd44": "Cortex-X1", "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2",
}


@dataclass(frozen=True)
class CpuFeatures:
    flags: frozenset[str] = field(default_factory=frozenset)
    model: str = "unknown CPU"
    note: str = ""  # why the flags are empty, when they are
    arch: str = ""  # "x86", "arm" or "" (unknown)

    def native(self, precision: str) -> bool:
        """Whether the CPU has instructions for `precision` (fp32 always): a hint for settings and order only."""
        needs = NATIVE.get((self.arch, precision), ())
        return precision not in LOW_PRECISIONS or any(f in self.flags for f in needs)

    def reason(self, precision: str) -> str:
        """One line: which flag makes `precision` native here, or that it will be emulated (and so raced)."""
        needs = NATIVE.get((self.arch, precision), ())
        have = [f for f in needs if f in self.flags]
        if precision not in LOW_PRECISIONS:
            return f"{precision} runs everywhere"
        if have:
            return f"{precision}: {self.model} has {', '.join(have)}"
        lacks = " / ".join(needs) or "known flags"
        return (f"{precision}: {self.model} lacks {lacks}{f' ({self.note})' if self.note else ''}; it may run "
                f"emulated, so only the race against fp32 can keep it")

    def order(self, requested: str) -> list[str]:
        """The low precisions to build, in the order to try them. `auto`: native ones first (each built one costs
        start-up time); an explicit request: that one, then the fall-back order int8 -> bf16."""
        if requested == "fp32":
            return []
        if requested == "auto":
            return sorted(FALLBACK, key=lambda p: (not self.native(p), FALLBACK.index(p)))
        return list(FALLBACK[FALLBACK.index(requested):])

    def reduce_range(self) -> bool:
        """7-bit int8 weights: on x86 without VNNI/AMX (VPMADDUBSW saturates), and when the CPU is unknown."""
        return self.arch != "arm" and not self.native("int8")

    def int8_engine(self) -> str:
        """The engine `auto` prefers for int8: OpenVINO on x86 (measured ~1.7x ONNX Runtime on the same QDQ file);
        ONNX Runtime on arm64, whose int8 kernels use SDOT/SMMLA directly."""
        return "onnxruntime" if self.arch == "arm" else "openvino"

    def identity(self) -> dict:
        """What a cached verdict is valid for: the model and every flag (a different CPU measures differently)."""
        return {"arch": self.arch, "model": self.model, "flags": sorted(self.flags)}


def _arm_model(fields: dict[str, str], board: str) -> str:
    part = ARM_PARTS.get(fields.get("cpu part", "").lower()) if fields.get("cpu implementer") == "0x41" else None
    name = part or (f"Arm CPU part {fields['cpu part']}" if "cpu part" in fields else "unknown Arm CPU")
    return f"{name} ({board})" if board else name


def parse_cpuinfo(text: str) -> CpuFeatures:
    """Flags of the first processor entry (x86 `flags`, arm64 `Features`) and its model name."""
    first: dict[str, str] = {}
    board = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "model" and not value.strip().isdigit():
            board = value.strip()  # Raspberry Pi and other boards: "Model : Raspberry Pi 5 Model B Rev 1.0"
        first.setdefault(key, value.strip())
    if "flags" in first:
        return CpuFeatures(frozenset(first["flags"].split()), first.get("model name", "unknown x86 CPU"), "", "x86")
    if "features" in first:
        return CpuFeatures(frozenset(first["features"].split()), _arm_model(first, board), "", "arm")
    return CpuFeatures(model=first.get("model name", "unknown CPU"), note="no CPU flags listed")


def detect(path: str | Path = "/proc/cpuinfo") -> CpuFeatures:
    try:
        return parse_cpuinfo(Path(path).read_text(errors="replace"))
    except OSError as exc:
        return CpuFeatures(note=f"cannot read {path}: {exc.strerror or exc}")
