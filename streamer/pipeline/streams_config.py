"""`[[streams]]`: several cameras in one daemon, each a stream with its own source, camera and steady settings.

It works like this: a stream's table names its `id` (and optionally `max_fps`) and any of the per-stream sections
(`source`, `camera`, `metric`, `steady`, `color`, `ros`); whatever it does not set comes from the top-level section
of the same name (deep-merged: the stream's own keys win, a sub-table such as `source.av_options` is merged key by
key). The shared sections (`model`, `http`, `zmq`, `foxglove`, `record`, `daemon`, `imagezmq`) are the daemon's and
cannot be set per stream. A config without `[[streams]]` is one stream whose id is `[zmq] camera_id`: it behaves
exactly as before streams existed (unnamed: today's topic names, pages and /stats).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import tomli_w

from streamer.config.options import opt
from streamer.config.schema import build_options
from streamer.config.toml import to_toml
from streamer.errors import ConfigError

PER_STREAM = ("source", "camera", "metric", "steady", "color", "ros")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class StreamOptions:
    id: str = opt("camera0", "the stream's name: letters, digits, '_' and '-' (up to 32); it names the stream's "
                             "ZeroMQ topics (depth/ID), pages (/s/ID/), Foxglove namespace and every header's camera")
    max_fps: float = opt(0.0, "at most this many of the stream's frames a second go through the network (newest "
                              "wins); 0 = as many as come", unit="1/s", min=0.0, max=240.0)


class Streams(NamedTuple):
    """The daemon's streams: each a full config dict (the shared sections plus its own merged ones and `stream`).
    `named`: declared as streams (`[[streams]]` or `--source` twice), so outputs are namespaced by id. (Not an
    options dataclass: the config writer skips it, `effective_toml` writes it.)"""

    named: bool
    items: tuple[dict[str, Any], ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s["stream"].id for s in self.items)


def deep_merge(base: dict, own: dict) -> dict:
    """`base` with `own` on top; tables merge key by key, anything else from `own` wins. Neither is modified."""
    out = dict(base)
    for key, value in own.items():
        out[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return out


def build_streams(data: dict, conf: dict[str, Any], schema: dict[str, type], origin: str) -> Streams:
    """The streams of a config whose top-level sections are already built into `conf`; `data` is the raw TOML
    (with the command line's values on top). ConfigError naming the stream and the key."""
    tables = data.get("streams")
    if tables is None:
        return Streams(False, ({**conf, "stream": StreamOptions(id=conf["zmq"].camera_id)},))
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{origin}: `streams` must be one or more [[streams]] tables, each with an id")
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        where = f"{origin}: streams[{index}]"
        sid = table.get("id")
        if not isinstance(sid, str) or not ID_RE.match(sid):
            raise ConfigError(f"{where}: id = {sid!r}: every stream needs an id of letters, digits, '_' or '-' "
                              f"(e.g. id = \"front\")")
        where = f"{where} ({sid})"
        if sid in seen:
            raise ConfigError(f"{where}: id {sid!r} is already streams[{seen[sid]}]'s; ids must be unique")
        seen[sid] = index
        own = {k: v for k, v in table.items() if k not in PER_STREAM}
        for key, value in table.items():
            if key in schema and key not in PER_STREAM:
                raise ConfigError(f"{where}: [{key}] is shared by every stream; set it at the top level, not in "
                                  f"[[streams]] (per stream: {', '.join(PER_STREAM)})")
            if key in PER_STREAM and not isinstance(value, dict):
                raise ConfigError(f"{where}: `{key}` must be a table ([streams.{key}])")
        stream = build_options(StreamOptions, own, f"{where}:")
        merged = {**conf, "stream": stream}
        for section in PER_STREAM:
            values = deep_merge(data.get(section, {}), table.get(section, {}))
            if section == "ros":  # each stream's own Foxglove channels and bag topics, unless it names them
                word = ros_word(sid)
                values = {"namespace": f"/{word}", "frame_id": f"{word}_optical_frame", **values}
            merged[section] = build_options(schema[section], values, f"{where}: {section}.")
        items.append(merged)
    for key in ("namespace", "frame_id"):
        seen_ros: dict[str, str] = {}
        for index, item in enumerate(items):
            value, sid = getattr(item["ros"], key), item["stream"].id
            if value in seen_ros:
                raise ConfigError(f"{origin}: streams[{index}] ({sid}): ros.{key} = {value!r} is also "
                                  f"stream {seen_ros[value]}'s; every stream needs its own (leave it unset: "
                                  f"/{ros_word(sid)})")
            seen_ros[value] = sid
    return Streams(True, tuple(items))


def ros_word(sid: str) -> str:
    """A stream id as a ROS name word: '-' becomes '_', a leading digit gets 's_' before it."""
    word = sid.replace("-", "_")
    return f"s_{word}" if word[0].isdigit() else word


def source_streams(urls: list[str]) -> list[dict]:
    """`run --source A --source B` as [[streams]] tables: ids cam0, cam1, ... or `--source front=URL`'s own."""
    tables = []
    for index, given in enumerate(urls):
        name, sep, url = given.partition("=")
        if sep and ID_RE.match(name) and "://" not in name and "/" not in name:
            tables.append({"id": name, "source": {"url": url}})
        else:
            tables.append({"id": f"cam{index}", "source": {"url": given}})
    return tables


def effective_toml(conf: dict[str, Any]) -> str:
    """`run --check`'s output: the effective config as TOML that reads back to the same config; with streams, the
    shared sections and then every stream's own, fully merged, sections."""
    streams: Streams = conf["streams"]
    shared = {k: v for k, v in conf.items() if k != "streams"}
    if not streams.named:
        return to_toml(shared)
    parts = [to_toml({k: v for k, v in shared.items() if k not in PER_STREAM})]
    for stream in streams.items:
        own = stream["stream"]
        parts.append(f"[[streams]]\n{tomli_w.dumps({'id': own.id, 'max_fps': own.max_fps})}")
        parts.append(to_toml({s: stream[s] for s in PER_STREAM}, within="streams"))
    return "\n".join(parts)
