"""`depth-streamer bench pipeline VIDEO`: the whole pipeline against the official MiDaS camera loop, same run.

(a) baseline: what isl-org/MiDaS `run.py` does per camera frame — sequential read, float64 cubic resize, normalise,
    torch eager forward, bicubic upsample to frame size, per-frame min/max, inferno — at the same network size;
(b) ours at full speed: the real Pipeline (file paced at 100 fps, faster than the network can take frames, ->
    ONNX Runtime -> steady -> publishers), in this process;
(c) ours as deployed: a `depth-streamer run` subprocess on the file paced at a camera rate, measured from outside
    with a real ZeroMQ subscriber (capture -> publish latency from the headers) and /proc (RSS), plus the time from
    process start to the first published frame with a warm export cache.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from streamer.config.schema import Override
from streamer.pipeline.options import load_config
from streamer.pipeline.pipeline import Pipeline
from streamer.tools.measure import DaemonProcess, http_stats, looping_video_args, pcts, rss_mb
from streamer.model import build_network, load_depth_model
from streamer.model.backends import default_threads
from streamer.model.preprocess import MEAN, STD
from streamer.model.weights import read_state_dict, resolve_weights_path


FULL_SPEED_INPUT_FPS = 100


def official_frame_loop(video: str, weights: str, seconds: float, net_size: int) -> dict:
    """The official run.py camera loop, step for step (no window: imshow is the one thing we cannot do here)."""
    torch.set_num_threads(default_threads())
    model = build_network(read_state_dict(weights))  # torch eager, NCHW, float32: run.py without --optimize
    times, frames = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with av.open(video) as container:
            for frame in container.decode(video=0):
                t0 = time.perf_counter()
                bgr = frame.to_ndarray(format="bgr24")
                rgb = np.flip(bgr, 2)  # run.py: "flip required to get RGB"
                image = _official_transform(rgb / 255, net_size)
                with torch.no_grad():
                    sample = torch.from_numpy(image).unsqueeze(0)
                    prediction = model.forward(sample)
                    prediction = torch.nn.functional.interpolate(
                        prediction.unsqueeze(1), size=rgb.shape[:2], mode="bicubic", align_corners=False,
                    ).squeeze().cpu().numpy()
                lo, hi = prediction.min(), prediction.max()  # per-frame min/max: the flicker we remove
                normalized = 255 * (prediction - lo) / (hi - lo)
                colored = cv2.applyColorMap(np.uint8(normalized), cv2.COLORMAP_INFERNO)
                np.concatenate((bgr, colored), axis=1)  # create_side_by_side
                times.append((time.perf_counter() - t0) * 1e3)
                frames += 1
                if time.monotonic() >= deadline:
                    break
    total = sum(times) / 1e3
    return {"fps": frames / total, "frames": frames, "latency_ms": pcts(times)}


def _official_transform(rgb: np.ndarray, net_size: int) -> np.ndarray:
    from streamer.model.preprocess import network_size

    h, w = rgb.shape[:2]
    net_w, net_h = network_size(w, h, net_size)
    resized = cv2.resize(rgb, (net_w, net_h), interpolation=cv2.INTER_CUBIC)  # float64, as run.py
    normalized = (resized - MEAN.astype(np.float64)) / STD.astype(np.float64)
    return np.ascontiguousarray(np.transpose(normalized, (2, 0, 1))).astype(np.float32)


def our_pipeline_full_speed(video: str, weights: str, seconds: float, net_size: int) -> dict:
    # Paced well above what the network can take, not unpaced: an unpaced decoder spins a whole core producing
    # frames nobody will see (newest-wins drops them), which a camera never does. The network never waits.
    conf = load_config(None, [Override(k, v, "bench") for k, v in (
        ("source.url", video), ("source.pace_fps", FULL_SPEED_INPUT_FPS), ("source.loop", True), ("zmq.port", 0),
        ("http.port", 0), ("model.net_size", net_size))])
    model = load_depth_model(conf["model"], weights)
    pipeline = Pipeline(conf, model)
    pipeline.start(conf["daemon"].warmup_timeout_s)
    try:
        time.sleep(2.0)  # past start-up transients
        before, t0 = pipeline.status.snapshot(), time.monotonic()
        time.sleep(seconds)
        snap, t1 = pipeline.status.snapshot(), time.monotonic()
        f0, d0, f1, d1 = before["frames_out"], before["dropped"], snap["frames_out"], snap["dropped"]
    finally:
        pipeline.stop(1.0)
    return {"fps": (f1 - f0) / (t1 - t0), "frames": f1 - f0, "skipped_by_newest_wins": d1 - d0,
            "latency_ms": snap["latency_ms"], "infer_ms": snap["infer_ms"], "backend": model.meta["backend"]}


def our_daemon_paced(video: str, weights: str, seconds: float, fps: float, net_size: int) -> dict:
    """A real daemon process on the file paced at `fps`, measured from outside."""
    import zmq

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"depth")
    t_start = time.monotonic()
    daemon = DaemonProcess(looping_video_args(video, weights, fps, "--set", f"model.net_size={net_size}"),
                           log_level="warning").start()
    sub.connect(f"tcp://127.0.0.1:{daemon.zmq_port}")
    try:
        if not sub.poll(60_000):
            raise RuntimeError("no frame from the daemon within 60 s:\n  " + daemon.log_tail().replace("\n", "\n  "))
        startup_s = time.monotonic() - t_start
        time.sleep(3.0)  # steady state: the first seconds hold the warm-up
        while sub.poll(0):  # drop what queued during the wait
            sub.recv_multipart()
        before = http_stats(daemon.http_port)
        latencies, rss = [], [rss_mb(daemon.pid)]
        deadline = time.monotonic() + seconds
        next_rss = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if sub.poll(200):
                _, header, _ = sub.recv_multipart()
                h = json.loads(header)
                latencies.append((h["publish_mono"] - h["capture_mono"]) * 1e3)
            if time.monotonic() >= next_rss:  # once a second, not per message
                rss.append(rss_mb(daemon.pid))
                next_rss += 1.0
        after = http_stats(daemon.http_port)
    finally:
        daemon.close()
        sub.close()
        ctx.term()
    span = seconds
    captured = after["source"]["frames"] - before["source"]["frames"]
    return {"startup_to_first_frame_s": startup_s, "fps_in": captured / span,
            "fps_out": (after["frames_out"] - before["frames_out"]) / span,
            "dropped": after["dropped"] - before["dropped"], "captured": captured,
            "capture_to_publish_ms": pcts(latencies), "rss_mb": {"median": statistics.median(rss), "max": max(rss)}}


def bench_pipeline(video: str, weights: str | None, seconds: float, paced_fps: float, net_size: int) -> dict:
    weights_path = str(resolve_weights_path(weights))
    if not Path(weights_path).is_file():
        raise SystemExit(f"--pipeline needs weights: {weights_path} does not exist (pass --weights)")
    print(f"video {video}; weights {weights_path}; {default_threads()} cores; {seconds:g} s per measurement\n")
    print("(a) baseline: official run.py camera loop (torch eager) ...", flush=True)
    base = official_frame_loop(video, weights_path, seconds, net_size)
    print(f"    {base['fps']:.1f} fps, per-frame latency {base['latency_ms']}")
    print("(b) ours, full speed (same network size) ...", flush=True)
    ours = our_pipeline_full_speed(video, weights_path, seconds, net_size)
    print(f"    {ours['fps']:.1f} fps ({ours['backend']}), capture->steady latency {ours['latency_ms']}, "
          f"inference {ours['infer_ms']}")
    print(f"    speed-up over the baseline: {ours['fps'] / base['fps']:.2f}x")
    print(f"(c) ours as a daemon process, file paced at {paced_fps:g} fps ...", flush=True)
    paced = our_daemon_paced(video, weights_path, seconds, paced_fps, net_size)
    print(f"    start -> first published frame {paced['startup_to_first_frame_s']:.2f} s (warm export cache)")
    print(f"    in {paced['fps_in']:.1f} fps, out {paced['fps_out']:.1f} fps, dropped {paced['dropped']} of "
          f"{paced['captured']} captured (newest frame wins)")
    print(f"    capture->publish latency {paced['capture_to_publish_ms']}, RSS {paced['rss_mb']} MB")
    return {"baseline": base, "ours": ours, "paced": paced, "speedup": ours["fps"] / base["fps"]}
