"""Recording: rosbag2 bags with MCAP storage, written with `rosbags` in the recorder's own thread, split, rotated
and repaired after a crash. `bag://` sources read such bags back (`streamer.sources.bag`)."""
from __future__ import annotations

from streamer.record.options import RecordOptions

__all__ = ["RecordOptions"]
