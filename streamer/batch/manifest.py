"""The manifest: OUT/batch.manifest.jsonl, one JSON object a line, appended (and fsynced) by the driver alone as
units finish, so a unit appears once however often its worker died. A re-run skips the units whose row says done
for the same input digest and range and whose outputs are still there, and the inputs whose assembled output is."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
NAME = "batch.manifest.jsonl"


class Manifest:
    def __init__(self, out: Path) -> None:
        self.path = out / NAME
        self.rows: list[dict] = []
        self._newline = ""  # a torn last line: the next row starts a line of its own
        if self.path.exists():
            text = self.path.read_text(encoding="utf-8")
            self._newline = "\n" if text and not text.endswith("\n") else ""
            for number, line in enumerate(text.splitlines(), 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a torn last line (power cut mid-append): that unit runs again
                    log.warning("%s line %d is not JSON; ignored", self.path, number)
                    continue
                if isinstance(row, dict):
                    self.rows.append(row)

    def done(self, key: str) -> dict | None:
        """The newest 'done' row of a unit (None: run it)."""
        for row in reversed(self.rows):
            if row.get("unit") == key:
                return row if row.get("status") == "done" else None
        return None

    def assembled(self, sha256: str, output: str) -> dict | None:
        for row in reversed(self.rows):
            if row.get("status") == "assembled" and row.get("sha256") == sha256 and row.get("output") == output:
                return row
        return None

    def append(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(self._newline + json.dumps(row, sort_keys=True) + "\n")
            self._newline = ""
            f.flush()
            os.fsync(f.fileno())
