"""What a frame source is told: one frozen options record, and how its `url` is read (demo, webcam, network, file)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from streamer.config.options import check_choices, opt

SourceKind = Literal["demo", "webcam", "network", "file", "bag"]

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Where frames come from and how hard to try. Fields a kind does not use are ignored by it."""

    url: str = opt("demo", "what to capture: 'demo' (built-in synthetic scene with true depth), '/dev/videoN' or "
                           "'v4l2:/dev/videoN' (webcam), 'rtsp://', 'rtsps://', 'http(s)://' (network stream), "
                           "'bag:///path/to/bag?topic=/camera/image_raw' (a ROS 2 bag), else a video file path")
    pixel_format: str = opt("", "webcam: input pixel format asked of the driver, e.g. 'mjpeg' or 'yuyv422'; "
                                "empty = driver default")
    width: int = opt(640, "webcam: capture width asked of the driver (0 = driver default); demo: render width",
                     unit="px", min=0, max=7680)
    height: int = opt(480, "webcam: capture height asked of the driver (0 = driver default); demo: render height",
                      unit="px", min=0, max=4320)
    fps: float = opt(30.0, "webcam: frame rate asked of the driver (0 = driver default); demo: frame rate",
                     unit="1/s", min=0, max=240)
    max_width: int = opt(0, "downscale wider frames to this width, keeping aspect (0 = never)", unit="px",
                         min=0, max=7680)
    max_height: int = opt(0, "downscale taller frames to this height, keeping aspect (0 = never)", unit="px",
                          min=0, max=4320)
    max_pixels: int = opt(8192 * 8192, "refuse (skip and count) a picture larger than this many pixels, read from "
                                       "its header before decoding; a bag's 20000x20000 PNG never takes 1.2 GB",
                          unit="px", min=1, max=2**31 - 1)
    rtsp_transport: str = opt("tcp", "RTSP lower transport; tcp survives lossy links and NAT (no smeared frames), "
                                     "udp has less latency", choices=("tcp", "udp", "udp_multicast", "http", "https"))
    open_timeout: float = opt(10.0, "give up opening (connect, handshake, stream probing) after this long",
                              unit="s", min=0.5, max=120)
    # 3 s + 5 s: a stream that stops (packets or just pictures) is noticed and reopened within the 5 s promised.
    read_timeout: float = opt(3.0, "give up a read that got no data for this long (network streams and files)",
                              unit="s", min=0.5, max=120)
    stall_timeout: float = opt(5.0, "watchdog: go offline and reconnect when no frame was decoded for this long",
                               unit="s", min=1, max=600)
    pace: bool = opt(True, "files and demo: release frames at their native rate against the monotonic clock, so "
                           "they stand in for a camera; false = as fast as decoding goes")
    pace_fps: float = opt(0.0, "files: release frames at this rate instead of the file's own (0 = the file's "
                               "rate); lets a recording stand in for a faster camera", unit="1/s", min=0, max=1000)
    loop: bool = opt(False, "files: start over at the end")
    on_eof: str = opt("stop", "files, not looping: at the end go to state 'ended' and then end the capture thread "
                              "('stop', the frame slot closes) or keep it idle ('idle')", choices=("stop", "idle"))
    backoff: tuple[float, ...] = opt((1.0, 2.0, 5.0, 10.0, 30.0), "waits before reconnect attempts after a "
                                     "failure; the last one repeats until a frame arrives again", unit="s",
                                     min=0.01, max=3600)
    skip_corrupt: bool = opt(True, "drop frames the decoder flags as corrupt (counted as decode errors) rather "
                                   "than hand smeared images to the depth net")
    demo_seed: int = opt(0, "demo: seed of the scene layout (colours, textures, motion phases)", min=0,
                         max=2**31 - 1)
    av_options: dict = opt({}, "extra FFmpeg demuxer/protocol options for av.open, string to string "
                               "(e.g. {'probesize': '500000'}); they override the ones derived above")

    def __post_init__(self) -> None:
        # Per-field types and bounds are checked by the config schema; these are the rules that span values.
        if not self.backoff or any(float(b) <= 0 for b in self.backoff):
            raise ValueError(f"backoff: need at least one positive wait, got {self.backoff!r}")
        object.__setattr__(self, "backoff", tuple(float(b) for b in self.backoff))
        check_choices(self)
        if (self.width == 0) != (self.height == 0):
            raise ValueError("width/height: give both or neither (0 = driver default)")

    def validate(self) -> None:
        """Checks that need the outside world; the config loader calls it once before anything starts."""
        problem = url_problem(self.url)
        if problem:
            raise ValueError(f"url = {self.url!r}: {problem}")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a source, or None. A missing webcam is not a problem here: it may be plugged in later."""
    text = url.strip()
    if not text:
        return "empty; use 'demo', a /dev/videoN device, an rtsp:// or http:// URL, or a video file"
    kind = source_kind(text)
    if kind == "bag":
        return bag_problem(text)
    if kind == "network":
        parsed = urlsplit(text)
        if not parsed.hostname:
            return "no host in the URL; expected e.g. rtsp://camera.local:554/stream"
        try:
            parsed.port  # noqa: B018 -- raises ValueError on a non-numeric or out-of-range port
        except ValueError:
            return "bad port in the URL"
        return None
    if kind == "file":
        if "://" in text:
            scheme = text.split("://", 1)[0]
            return f"unsupported scheme {scheme!r}; supported: rtsp, rtsps, http, https (or a file path)"
        if not Path(text).expanduser().is_file():
            return "no such file (for a camera use /dev/videoN or an rtsp:// URL)"
    return None


def source_kind(url: str) -> SourceKind:
    """Which kind of source a url names: 'demo', a webcam ('/dev/video*', 'v4l2:'), a network stream, else a file."""
    lowered = url.strip().lower()
    if lowered == "demo":
        return "demo"
    if lowered.startswith("v4l2:") or lowered.startswith("/dev/video"):
        return "webcam"
    if lowered.startswith(NETWORK_SCHEMES):
        return "network"
    if lowered.startswith("bag://"):
        return "bag"
    return "file"


def webcam_device(url: str) -> str:
    """'v4l2:/dev/video2' or 'v4l2:2' -> '/dev/video2'; a plain path is returned as is."""
    target = url.strip()
    if target.lower().startswith("v4l2:"):
        target = target[len("v4l2:"):]
    return f"/dev/video{target}" if target.isdigit() else target


def parse_bag_url(url: str) -> tuple[Path, str]:
    """`bag://PATH?topic=NAME` -> (path, topic); topic "" when not given."""
    rest = url.strip()[len("bag://"):]
    path, _, query = rest.partition("?")
    topic = parse_qs(query).get("topic", [""])[0]
    return Path(unquote(path)).expanduser(), topic


def bag_problem(url: str) -> str | None:
    """Why `url` cannot name a bag source, or None (topic and message types are checked when it opens)."""
    path, _ = parse_bag_url(url)
    if not str(path) or str(path) == ".":
        return "no path; expected bag:///path/to/bag?topic=/camera/image_raw"
    if not path.exists():
        return f"no such bag: {path} (a rosbag2 folder, or a .mcap or .db3 file)"
    if path.is_file() and path.suffix not in (".mcap", ".db3"):
        return f"{path} is not a bag: expected a rosbag2 folder, or a .mcap or .db3 file"
    return None
