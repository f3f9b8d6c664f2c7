"""The ONNX export cache's housekeeping: a size cap with least-recently-used eviction, and the unfinished exports
(`.part`) of killed processes removed at the next start. The cache's keys and files are `backends.OnnxRuntimeBackend`'s.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def evict_least_recently_used(folder: Path, max_bytes: int, keep: Path) -> list[Path]:
    """Delete exports, least recently used first, until the folder's exports total at most `max_bytes` (`keep`, the
    one just made, stays whatever its size). A running session has its graph in memory: deleting its file is safe."""
    exports = []
    for onnx in folder.glob("midas_small_*.onnx"):
        if "." in onnx.stem:  # derived files (int8 models) are the precision stage's to manage
            continue
        try:
            exports.append((onnx.stat().st_mtime, onnx.stat().st_size, onnx))
        except OSError:
            continue
    total = sum(size for _, size, _ in exports)
    removed = []
    for _, size, onnx in sorted(exports):
        if total <= max_bytes:
            break
        if onnx == keep:
            continue
        onnx.unlink(missing_ok=True)
        onnx.with_suffix(".json").unlink(missing_ok=True)
        total -= size
        removed.append(onnx)
    if removed:
        log.info("ONNX export cache over %d MB: removed the %d least recently used export(s): %s", max_bytes >> 20,
                 len(removed), ", ".join(p.name for p in removed))
    return removed


def touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves; it just cannot record the use
        pass


def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete the `.part` files of exports whose process is gone (killed mid-export); returns what it removed."""
    removed = []
    for part in folder.glob(".*.onnx.part"):
        fields = part.name.split(".")  # '', stem, pid, random, 'onnx', 'part'
        pid = int(fields[2]) if len(fields) == 6 and fields[2].isdigit() else None
        if pid is not None and (pid == os.getpid() or _alive(pid)):
            continue
        part.unlink(missing_ok=True)
        removed.append(part)
    for folder_part in folder.glob(".quant.*"):  # an int8 quantisation's work folder: '', 'quant', pid, random
        fields = folder_part.name.split(".")
        pid = int(fields[2]) if len(fields) == 4 and fields[2].isdigit() else None
        if pid is None or pid == os.getpid() or _alive(pid) or not folder_part.is_dir():
            continue
        shutil.rmtree(folder_part, ignore_errors=True)
        removed.append(folder_part)
    if removed:
        log.info("removed %d unfinished ONNX export(s) left by a process that was killed: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
