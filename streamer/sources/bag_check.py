"""What is wrong with a bag, in one line: why it does not open, and how far its MCAP chunks can be trusted.

rosbags opens a bag and reads its messages, but says "File end magic is invalid." of a file a crash cut short,
dumps the YAML parser's five lines for a broken metadata.yaml, and never checks an MCAP chunk's CRC (random bytes
inside a chunk play as garbage pictures). `open_problem` turns the first two into one line that says what to do;
`readable_messages` reads the MCAP file(s) once with the `mcap` package, CRCs checked, and says how many messages of
a topic come before the first damaged chunk (the source plays those and then ends as at a broken file).
"""
from __future__ import annotations

from pathlib import Path

from mcap.records import Channel, Message
from mcap.stream_reader import StreamReader


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception in one line: its type (rosbags' and apsw's say little without it) and message."""
    text = " ".join(str(exc).split())[:limit]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def open_problem(path: Path, exc: BaseException) -> str:
    """Why the bag at `path` does not open, one line, with the way out where there is one."""
    text = str(exc)
    if "magic" in text.lower() and _mcap_files(path):
        return (f"cannot open the bag {path}: its MCAP file is truncated (no end record: the recording was cut "
                f"short, e.g. its recorder was killed); `depth-streamer repair {path}` keeps every complete message")
    if "yaml" in type(exc).__name__.lower() or "metadata" in text.lower():
        return f"cannot open the bag {path}: its metadata.yaml cannot be read ({one_line(exc, 160)})"
    return f"cannot open the bag {path}: {one_line(exc)}"


def readable_messages(path: Path, topic: str) -> tuple[int | None, str]:
    """(messages on `topic` before the first damaged MCAP chunk, why it is damaged), or (None, "") when every chunk
    checks out (or the bag is not MCAP: sqlite3 reports its own damage while reading)."""
    count = 0
    for file in _mcap_files(path):
        channels: set[int] = set()
        try:
            with file.open("rb") as f:
                for record in StreamReader(f, validate_crcs=True).records:
                    if isinstance(record, Channel) and record.topic == topic:
                        channels.add(record.id)
                    elif isinstance(record, Message) and record.channel_id in channels:
                        count += 1
        except Exception as exc:  # a CRC mismatch, a bad record, a short read: nothing past here is trusted
            return count, f"{file.name}: {one_line(exc)}"
    return None, ""


def _mcap_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix == ".mcap" else []
    return sorted(path.glob("*.mcap")) if path.is_dir() else []
