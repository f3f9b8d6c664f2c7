"""`bench batch --long-bag-minutes M`: a long bag's memory. A worker streams a bag (a chunk of the input at a time,
the frame in hand, the maps of a few frames for the stitching, the part bag written a chunk at a time), so its peak
should not grow with the bag's length; nor should the driver's, which assembles the output bag.

It writes two synthetic bags (rosbags, MCAP; a textured scene panning, FPS frames a second of WIDTH x HEIGHT rgb8),
one of M minutes and a short one (1 minute, or M/4 when shorter), and runs `batch --executor local` on them: the short
one and the long one each as ONE unit (segment_s 0: the worst case, one worker reads the whole bag), then the long
one cut as the defaults cut it. Reported per worker: its peak RSS (VmHWM: loading the model, the start-up's
transient, is its peak) and its working peak (the most RSS once frames were done: what it holds while it streams);
the driver's peak (it assembles the output bag). The bound holds when the long bag's one-unit worker's working peak
is within BOUND_S seconds of frames (a frame: its picture decoded plus its depth map) of the short bag's, and the
driver's peak too.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from streamer.batch.local import cores
from streamer.errors import StreamerError
from streamer.model.weights import resolve_weights_path
from streamer.record.messages import TYPESTORE
from streamer.tools.bench.batch import run_batch
from streamer.tools.measure import load_1m

T = TYPESTORE.types
IMAGE = "sensor_msgs/msg/Image"
TOPIC = "/camera/image_raw"
T0 = 1_700_000_000_000_000_000
BOUND_S = 5.0  # "a few seconds of frames"


def write_long_bag(path: Path, seconds: float, fps: float, width: int, height: int) -> int:
    """A bag of `seconds` of frames, each made, serialized and written in turn (one frame in memory); the count."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (height // 8 + 1, width // 4 + 1, 3), np.uint8)  # coarse blocks: a textured scene
    scene = np.repeat(np.repeat(scene, 8, axis=0), 8, axis=1)[:height]
    scene = np.concatenate([scene, scene], axis=1)  # wraps around as it pans
    span = scene.shape[1] // 2
    count, period = int(round(seconds * fps)), int(round(1e9 / fps))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(TOPIC, IMAGE, typestore=TYPESTORE)
        for i in range(count):
            x = (2 * i) % span
            rgb = np.ascontiguousarray(scene[:, x:x + width])
            ns = T0 + i * period
            header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9,
                                                                                       nanosec=ns % 10**9),
                                              frame_id="camera")
            msg = T[IMAGE](header=header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                           step=width * 3, data=rgb.reshape(-1))
            writer.write(conn, ns, TYPESTORE.serialize_cdr(msg, IMAGE))
    return count


def depth_map_bytes(bag: Path) -> int:
    """The bytes of one relative depth map in an output bag (the network's size, not the picture's)."""
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic.endswith("depth/relative_inverse")]
        for conn, _, data in reader.messages(connections=conns):
            msg: Any = TYPESTORE.deserialize_cdr(data, conn.msgtype)
            return int(msg.height * msg.step)
    return 0


def bench_long_bag(weights: str | None, precision: str, minutes: float, calibration: str | None = None,
                   fps: float = 10.0, width: int = 160, height: int = 120) -> dict:
    weights_path = str(resolve_weights_path(weights))
    if not Path(weights_path).is_file():
        raise StreamerError(f"bench batch needs weights: {weights_path} does not exist (pass --weights)")
    short_min = min(1.0, minutes / 4)
    print(f"(d) a long bag's memory: {minutes:g} min against {short_min:g} min, {width}x{height} at {fps:g} fps; "
          f"weights {weights_path}; {cores()} cores; precision {precision}; load {load_1m()}", flush=True)
    common = ["--weights", weights_path, "--precision", precision]
    if calibration and precision != "fp32":
        common += ["--calibration", calibration]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-longbag-") as tmp:
        result = _measure(Path(tmp), common, env, minutes, short_min, fps, width, height)
    print(f"\nload {load_1m()} (1-minute average at the end)")
    return result


def _measure(root: Path, common: list[str], env: dict, minutes: float, short_min: float, fps: float, width: int,
             height: int) -> dict:
    runs: dict[str, dict] = {}
    frame_bytes = 0
    for name, length, segment in (("short", short_min, ["--segment-s", "0"]), ("long", minutes, ["--segment-s", "0"]),
                                  ("long_segments", minutes, [])):
        bag = root / f"{name.split('_')[0]}_bag"
        if not bag.exists():
            count = write_long_bag(bag, length * 60, fps, width, height)
            print(f"    wrote {bag.name}: {length:g} min, {count} frames of {width}x{height} at {fps:g} fps, "
                  f"{sum(p.stat().st_size for p in bag.rglob('*')) / 2**20:.0f} MB", flush=True)
        out = root / f"out_{name}"
        run = run_batch([str(bag), *common, *segment, "--out", str(out)], env, None, "spawn_main")
        units = sum(1 for line in (out / "batch.manifest.jsonl").read_text().splitlines() if '"done"' in line)
        frame_bytes = frame_bytes or width * height * 3 + depth_map_bytes(out / f"{bag.name}.depth")
        runs[name] = {"minutes": length, "units": units, "worker_peak_mb": run["rss_mb"],
                      "worker_working_mb": run["working_rss_mb"], "driver_peak_mb": run["driver_rss_mb"],
                      "wall_s": round(run["wall_s"], 1)}
        print(f"    {name}: {length:g} min, {units} unit(s): worker RSS streaming frames {run['working_rss_mb']} MB, "
              f"peak {run['rss_mb']} MB (start-up included); driver (assembly) peak {run['driver_rss_mb']} MB",
              flush=True)
        shutil.rmtree(out)  # a 10-minute output is a gigabyte of depth maps
    per_s = frame_bytes * fps / 2**20
    growth = max(runs["long"]["worker_working_mb"], default=np.nan) - max(runs["short"]["worker_working_mb"],
                                                                          default=np.nan)
    driver = runs["long"]["driver_peak_mb"] - runs["short"]["driver_peak_mb"]
    result = {"runs": runs, "frame_mb": round(frame_bytes / 2**20, 3), "frames_mb_per_s": round(per_s, 2),
              "worker_growth_mb": round(growth, 1), "worker_growth_s_of_frames": round(growth / per_s, 2),
              "driver_growth_mb": round(driver, 1), "bound_s": BOUND_S,
              "met": growth / per_s <= BOUND_S and driver / per_s <= BOUND_S}
    print(f"    a second of frames = {per_s:.2f} MB ({fps:g} x ({width}x{height}x3 picture + "
          f"{frame_bytes - width * height * 3} B depth map)); one-unit worker streaming {minutes:g} min vs "
          f"{short_min:g} min: "
          f"{growth:+.1f} MB = {growth / per_s:+.2f} s of frames; driver {driver:+.1f} MB = {driver / per_s:+.2f} s "
          f"(bound: {BOUND_S:g} s: {'met' if result['met'] else 'MISSED'})")
    return result
