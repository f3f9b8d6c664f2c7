"""`[record]`: the black-box recording's settings as data (rosbag2 splits with MCAP storage, written by `rosbags`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from streamer.config.options import opt
from streamer.render.views import VIEWS


@dataclass(frozen=True)
class RecordOptions:
    enabled: bool = opt(False, "record rosbag2 bags (MCAP storage) of depth, the color view, camera info, point clouds "
                               "and /tf_static; playable with `ros2 bag play`")
    dir: str = opt("recordings", "folder of the splits (one rosbag2 bag each); a relative path is taken under "
                                 "$STATE_DIRECTORY when set (systemd's StateDirectory), else the working directory")
    split_s: float = opt(60.0, "start a new split (a new bag) this often", unit="s", min=1.0, max=86400.0)
    max_total_mb: float = opt(2048.0, "past this size of all splits together the oldest splits are deleted: the "
                                      "last minutes are always there and the disk never fills", unit="MB", min=1.0,
                              max=1e7)
    max_fps: float = opt(0.0, "record at most this many frames per second (0 = every frame the network makes)",
                         unit="1/s", min=0.0, max=240.0)
    depth_bits: int = opt(8, "mantissa bits kept in the recorded float32 depth maps (23 = exact): 8 keeps the "
                               "relative error under 0.2 % (2 cm at 10 m, far below a monocular network's own error) "
                               "and lets zstd store a map in about a quarter of its bytes", min=4, max=23)
    compression: str = opt("zstd", "MCAP chunk compression (ros2 bag play reads both)", choices=("zstd", "none"))
    color: bool = opt(True, "also record the color view (sensor_msgs/CompressedImage, the JPEG already encoded for "
                            "the live outputs)")
    color_view: str = opt("depth", "view of the recorded color images (same JPEG as ZeroMQ's color topic when view "
                                   "and quality match: encoded once)", choices=VIEWS)
    jpeg_quality: int = opt(80, "JPEG quality of the recorded color view", min=10, max=100)
    queue_frames: int = opt(16, "frames waiting for the disk; beyond that frames are dropped from the recording "
                                "(counted in /stats and /metrics), never from the live outputs", unit="frames",
                            min=1, max=1000)
    retry_s: float = opt(5.0, "after a write error (disk full, read-only) try a new split this often", unit="s",
                         min=0.5, max=3600.0)

    @property
    def root(self) -> Path:
        """The folder itself: a relative `dir` lives in the service's state directory when there is one."""
        path = Path(self.dir).expanduser()
        state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(state) / path if state and not path.is_absolute() else path

    def validate(self) -> None:
        path = self.root
        if not self.dir.strip():
            raise ValueError("dir: empty; give a folder for the recordings, e.g. 'recordings'")
        if path.exists() and not path.is_dir():
            raise ValueError(f"dir = {self.dir!r}: exists and is not a folder; choose a folder for the recordings")
