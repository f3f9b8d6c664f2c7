"""The table `batch` prints at the end: one line per input (frames, fps, precision, outputs, failures)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class InputResult:
    name: str
    kind: str
    units: int = 0
    frames: int = 0
    seconds: float = 0.0  # worker time over its units
    precisions: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    skipped: int = 0  # units finished by an earlier run

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def add(self, row: dict) -> None:
        if row.get("status") == "error":
            self.failures.append(row.get("error", "failed"))
            return
        self.frames += int(row.get("frames", 0))
        self.seconds += float(row.get("seconds", 0.0))
        if row.get("precision"):
            self.precisions.add(row["precision"])


def table(results: list[InputResult]) -> str:
    header = ("input", "kind", "units", "frames", "fps", "precision", "outputs", "failures")
    lines = [header]
    for r in results:
        fps = f"{r.frames / r.seconds:.1f}" if r.seconds > 0 else "-"
        units = f"{r.units}" + (f" ({r.skipped} done before)" if r.skipped else "")
        lines.append((r.name, r.kind, units, str(r.frames), fps, ",".join(sorted(r.precisions)) or "-",
                      ", ".join(r.outputs) or "-", "; ".join(r.failures) or "-"))
    widths = [max(len(line[i]) for line in lines[:]) if i < 7 else 0 for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if w else cell for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
