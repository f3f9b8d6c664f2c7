"""The daemon's configuration schema: one options record per TOML section, validated once before anything starts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamer.batch.options import BatchOptions
from streamer.config.net import port_clash
from streamer.config.options import opt
from streamer.config.schema import Override, apply_overrides, build_sections
from streamer.config.toml import read_toml
from streamer.errors import ConfigError
from streamer.geometry.options import CameraOptions
from streamer.model import ModelOptions
from streamer.pipeline.streams_config import Streams, build_streams
from streamer.publish.foxglove import FoxgloveOptions
from streamer.publish.http.options import HttpOptions
from streamer.publish.imagezmq_publisher import ImageZmqPublisherOptions
from streamer.publish.topics import RosOptions
from streamer.publish.zmq_publisher import ZmqPublisherOptions
from streamer.record import RecordOptions
from streamer.render.colorize import ColorOptions
from streamer.render.views import overlay_alpha_opt
from streamer.sources.options import SourceOptions, source_kind
from streamer.steady import MetricOptions, SteadyOptions


@dataclass(frozen=True)
class DaemonOptions:
    pause_when_idle: bool = opt(False, "skip inference while nobody subscribes to ZeroMQ or watches the MJPEG "
                                       "stream; the next frame after someone arrives is processed")
    imagezmq: bool = opt(False, "also publish imagezmq-compatible frames (see [imagezmq])")
    overlay_alpha: float = overlay_alpha_opt()
    stall_s: float = opt(10.0, "no output for this long while the source delivers frames means the pipeline is "
                               "wedged: the systemd watchdog is no longer pinged (and restarts the service)",
                         unit="s", min=1.0, max=3600.0)
    warmup_timeout_s: float = opt(10.0, "wait this long for a first frame to warm the network at its size; "
                                        "after it, warm up at [source] width x height", unit="s", min=0.0, max=600.0)


SCHEMA: dict[str, type] = {"daemon": DaemonOptions, "source": SourceOptions, "model": ModelOptions,
                           "steady": SteadyOptions, "color": ColorOptions, "zmq": ZmqPublisherOptions,
                           "imagezmq": ImageZmqPublisherOptions, "http": HttpOptions,
                           "camera": CameraOptions, "metric": MetricOptions, "foxglove": FoxgloveOptions,
                           "record": RecordOptions, "ros": RosOptions, "batch": BatchOptions}


def load_config(path: str | Path | None, overrides: list[Override] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Validate the file plus command-line values against SCHEMA; raises ConfigError naming the key (and the stream).
    `conf["streams"]` holds every stream's effective config (see `streams_config`); the top-level sections are the
    shared ones and every stream's defaults."""
    data = read_toml(path) if path else {}
    data = apply_overrides(data, list(overrides))
    origin = str(path) if path else "config"
    conf = build_sections({k: v for k, v in data.items() if k != "streams"}, SCHEMA, origin=origin)
    streams = build_streams(data, conf, SCHEMA, origin)
    enabled = ["http", "zmq"] + (["imagezmq"] if conf["daemon"].imagezmq else []) + (
        ["foxglove"] if conf["foxglove"].enabled else [])
    listeners = [(f"[{name}] port", conf[name].host, conf[name].port) for name in enabled]
    for stream in streams.items:
        anchors = stream["metric"].tcp_listener() if stream["metric"].mode == "points" else None
        if anchors:
            listeners.append((f"{_named(streams, stream)}[metric] anchors_endpoint", *anchors))
    clash = port_clash(listeners)
    if clash:
        raise ConfigError(f"{origin}: {clash}")
    for stream in streams.items:
        where = f"{origin}: {_named(streams, stream)}"
        aspect = stream["camera"].aspect_problem(stream["source"].width, stream["source"].height)
        if aspect and source_kind(stream["source"].url) in ("demo", "webcam"):
            raise ConfigError(f"{where}{aspect} ([source] width/height); fix [camera] width/height")
        metric_problem = _metric_problem(stream)
        if metric_problem:
            raise ConfigError(f"{where}{metric_problem}")
    conf["streams"] = streams
    return conf


def _named(streams: Streams, stream: dict[str, Any]) -> str:
    """"streams[1] (rear): " for a declared stream, "" for the one stream of a config without [[streams]]."""
    if not streams.named:
        return ""
    return f"streams[{streams.items.index(stream)}] ({stream['stream'].id}): "


def _metric_problem(conf: dict[str, Any]) -> str | None:
    """[metric] rules that need [camera] and [source]: ground mode needs a camera model and a mount."""
    mode, camera = conf["metric"].mode, conf["camera"]
    if mode != "ground" or source_kind(conf["source"].url) == "demo":  # the demo knows its camera and mount
        return None
    if not camera.has_intrinsics:
        return ("[metric] mode = 'ground' needs the camera's intrinsics: set [camera] fx, fy, cx, cy, width, height "
                "(`depth-streamer calibrate` prints them) or at least hfov_deg")
    if camera.height_m <= 0:
        return "[metric] mode = 'ground' needs the mount: set [camera] height_m (and pitch_deg, roll_deg)"
    return None
