"""The recording folder: one rosbag2 bag per split, named so they sort by age; rotation; repair after a crash.

Layout: `DIR/NNNNNN_YYYYmmddTHHMMSSZ/` (a running index, then the UTC start) holding `metadata.yaml` and
`NNNNNN_....mcap`, exactly what `ros2 bag record` writes for one bag, so `ros2 bag play DIR/<split>` plays it.

A split without `metadata.yaml` was still being written when the process died (SIGKILL, power loss). Its MCAP has
every chunk written before the crash but no summary, so no reader opens it. `repair` reads it sequentially with
the `mcap` package up to the first damaged record and writes the messages it got into a fresh bag with `rosbags`;
a split with nothing readable is set aside as `<name>.unreadable`. Either way the log says which and how much.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.metadata import parse_qos

from streamer.record.messages import TYPESTORE

log = logging.getLogger(__name__)

SPLIT = re.compile(r"(\d{6})_(\d{8}T\d{6}Z)")


@dataclass(frozen=True)
class Split:
    path: Path
    index: int

    @property
    def closed(self) -> bool:
        return (self.path / "metadata.yaml").is_file()

    def size(self) -> int:
        return folder_size(self.path)


def folder_size(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            pass
    return total


def list_splits(root: Path) -> list[Split]:
    """Every split folder (and set-aside `.unreadable` one) under `root`, oldest first."""
    out: list[Split] = []
    if not root.is_dir():
        return out
    for entry in root.iterdir():
        m = SPLIT.match(entry.name)
        if m and entry.is_dir() and entry.name[m.end():] in ("", ".unreadable"):
            out.append(Split(entry, int(m.group(1))))
    return sorted(out, key=lambda s: (s.index, s.path.name))


def new_split_path(root: Path) -> Path:
    """The next split's folder name (not created: rosbags' Writer creates it and refuses to overwrite)."""
    last = max((s.index for s in list_splits(root)), default=-1)
    return root / f"{last + 1:06d}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def rotate(root: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the oldest splits (never `keep`, the open one) until all of them fit in `max_bytes`; returns what went."""
    splits = list_splits(root)
    sizes = {s.path: s.size() for s in splits}
    total = sum(sizes.values())
    gone = []
    for split in splits:
        if total <= max_bytes:
            break
        if split.path == keep:
            continue
        shutil.rmtree(split.path, ignore_errors=True)
        total -= sizes[split.path]
        gone.append(split.path)
    return gone


def recover(root: Path, skip: Path | None = None) -> list[str]:
    """Repair or set aside every split left open by a crash (but `skip`, the one being written); returns what was
    done, one line each (also logged)."""
    done: list[str] = []
    if not root.is_dir():
        return done
    for stale in root.glob("*.repairing"):  # a repair that was itself interrupted: start it over
        shutil.rmtree(stale, ignore_errors=True)
    for split in list_splits(root):
        if split.closed or split.path.name.endswith(".unreadable") or split.path == skip:
            continue
        if discard_if_empty(split.path):
            continue
        line = repair(split.path)
        log.warning("%s", line)
        done.append(line)
    return done


def repair(path: Path) -> str:
    """Make the unfinished split at `path` a readable bag again, or set it aside; says which."""
    files = sorted(path.glob("*.mcap"))
    # The new bag is written as <split>.repairing/<split>, so its file is named after the split (rosbags names the
    # file after its folder) and the whole thing moves in with one rename.
    work = path.with_name(path.name + ".repairing")
    tmp = work / path.name
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir()
        count, span = rewrite(files[0], tmp) if files else (0, 0.0)
    except OSError as exc:  # writing the new bag failed (a disk still full): not the split's fault, try later
        shutil.rmtree(work, ignore_errors=True)
        return (f"recording {path} was not closed (the process was killed?) and cannot be repaired now "
                f"({exc.strerror or exc}): left as it is, tried again at the next start or new split")
    except (ValueError, KeyError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        count, span, why = 0, 0.0, f"{type(exc).__name__}: {exc}"
    else:
        why = "no complete message in it"
    if count == 0:
        shutil.rmtree(work, ignore_errors=True)
        aside = path.with_name(path.name + ".unreadable")
        path.rename(aside)
        return (f"recording {path} was not closed (the process was killed?) and nothing in it could be read "
                f"({why}): set aside as {aside.name}")
    broken = path.with_name(path.name + ".broken")
    path.rename(broken)
    tmp.rename(path)
    shutil.rmtree(broken, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return (f"recording {path} was not closed (the process was killed?): repaired, {count} messages over "
            f"{span:.1f} s kept; what was still being written when it stopped is lost")


def rewrite(source: Path, target: Path) -> tuple[int, float]:
    """Copy every complete message of the MCAP `source` into a new bag at `target`: (messages, seconds spanned)."""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    connections: dict[int, Connection] = {}
    count, first, last = 0, None, None
    writer = Writer(target, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        with source.open("rb") as f:
            records = StreamReader(f, record_size_limit=1 << 30).records
            try:
                for record in records:
                    if isinstance(record, Schema):
                        schemas[record.id] = record
                    elif isinstance(record, Channel):
                        channels[record.id] = record
                    elif isinstance(record, Message) and record.channel_id in channels:
                        channel = channels[record.channel_id]
                        conn = connections.get(channel.id)
                        if conn is None:
                            msgtype = schemas[channel.schema_id].name
                            qos = parse_qos(channel.metadata.get("offered_qos_profiles", ""))
                            conn = connections[channel.id] = writer.add_connection(
                                channel.topic, msgtype, typestore=TYPESTORE, offered_qos_profiles=qos)
                        writer.write(conn, record.log_time, record.data)
                        count += 1
                        first = record.log_time if first is None else min(first, record.log_time)
                        last = record.log_time if last is None else max(last, record.log_time)
            except Exception as exc:  # the torn end of a file raises anything (short read, bad zstd): keep what came
                log.debug("%s: stopped reading at %s", source, exc)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    fsync_tree(target)
    return count, ((last - first) / 1e9 if first is not None and last is not None else 0.0)


def discard_if_empty(path: Path) -> bool:
    """Delete a split folder that holds nothing but empty files (one started on a full disk); True if it did."""
    try:
        if not path.is_dir() or any(f.stat().st_size for f in path.iterdir()):
            return False
    except OSError:
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()


def fsync_tree(path: Path) -> None:
    """Flush a closed split's files and folder to the disk, so a power loss after this keeps it."""
    for entry in [*path.iterdir(), path]:
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
