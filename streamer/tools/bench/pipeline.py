"""`depth-streamer bench pipeline VIDEO`: our daemon against the official MiDaS camera loop, all in one run.

(a) the official run.py loop, network in torch (as shipped) - the baseline;
(b) the official run.py loop, network on OpenVINO with default hints - the peer MiDaS points CPU users to;
(c) ours, lossless: a `depth-streamer run` process on the file unpaced (every frame through the network once, the
    decoder waiting for it), measured from outside: fps, dropped (must be 0), CPU-ms per frame;
(d) ours as a live camera: the file paced at `paced_fps`: fps in and out, drop %, capture -> publish latency from
    a real ZeroMQ subscriber's headers, CPU-ms per published frame, RSS, start to first frame.
Every daemon measurement starts once the daemon has settled its precision (int8/bf16 are chosen from real frames
after start-up), so what is timed is what runs.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import zmq

from streamer.client.subscriber import MAX_MESSAGE_BYTES
from streamer.config.schema import Override
from streamer.core import jsonlimit
from streamer.errors import StreamerError
from streamer.model import load_depth_model
from streamer.model.backends import OnnxRuntimeBackend, default_threads
from streamer.model.preprocess import network_size
from streamer.model.weights import resolve_weights_path
from streamer.pipeline.options import load_config
from streamer.tools.bench.official import official_loop, openvino_forward, torch_forward
from streamer.tools.measure import DaemonProcess, cpu_seconds, http_stats, load_1m, pcts, rss_mb, thread_cpu

SETTLE_TIMEOUT_S = 300.0  # calibration frames + a quantisation + the gate, on a busy 2-core box


def settled(stats: dict) -> bool:
    """The daemon publishes and its precision choice is made (nothing pending)."""
    return stats.get("frames_out", 0) > 0 and not stats.get("model", {}).get("precision_pending", False)


def measure_daemon(args: list[str], seconds: float, latency: bool) -> dict:
    """A daemon process with `args`, measured from outside for `seconds` once settled."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"depth")
    sub.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    t_start = time.monotonic()
    daemon = DaemonProcess(args, log_level="warning").start()
    sub.connect(f"tcp://127.0.0.1:{daemon.zmq_port}")
    try:
        if not sub.poll(int(SETTLE_TIMEOUT_S * 1000)):
            raise StreamerError("no frame from the daemon:\n" + daemon.log_tail())
        startup_s = time.monotonic() - t_start
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while not settled(http_stats(daemon.http_port)):
            if time.monotonic() > deadline or not daemon.alive():
                raise StreamerError("the daemon did not settle its precision:\n" + daemon.log_tail())
            time.sleep(0.5)
        time.sleep(2.0)  # past the switch
        while sub.poll(0):
            sub.recv_multipart()
        threads0 = thread_cpu(daemon.pid)
        before, cpu0, t0 = http_stats(daemon.http_port), cpu_seconds(daemon.pid), time.monotonic()
        latencies: list[float] = []
        rss = [rss_mb(daemon.pid)]
        next_rss = time.monotonic() + 1.0
        while time.monotonic() < t0 + seconds:
            if sub.poll(200):
                header = jsonlimit.loads(sub.recv_multipart()[1], what="header")
                latencies.append((header["publish_mono"] - header["capture_mono"]) * 1e3)
            if time.monotonic() >= next_rss:
                rss.append(rss_mb(daemon.pid))
                next_rss += 1.0
        after, cpu1, t1 = http_stats(daemon.http_port), cpu_seconds(daemon.pid), time.monotonic()
        threads1 = thread_cpu(daemon.pid)
    finally:
        daemon.close()
        sub.close()
        ctx.term()
    span = t1 - t0
    captured = after["source"]["frames"] - before["source"]["frames"]
    out_frames = after["frames_out"] - before["frames_out"]
    dropped = after["dropped"] - before["dropped"]
    per_thread = {name: round(1e3 * (cpu - threads0.get(name, 0.0)) / max(out_frames, 1), 2)
                  for name, cpu in sorted(threads1.items(), key=lambda kv: threads0.get(kv[0], 0.0) - kv[1])}
    return {"startup_to_first_frame_s": round(startup_s, 2),
            "cpu_ms_per_frame_by_thread": {k: v for k, v in per_thread.items() if v >= 0.05},
            "fps_in": captured / span, "fps_out": out_frames / span,
            "captured": captured, "published": out_frames, "dropped": dropped,
            "dropped_pct": 100.0 * dropped / captured if captured else 0.0,
            "cpu_ms_per_frame": 1e3 * (cpu1 - cpu0) / out_frames if out_frames else None,
            "capture_to_publish_ms": pcts(latencies) if latency else None,
            "rss_mb": {"median": statistics.median(rss), "max": max(rss)},
            "precision": after["model"].get("precision", "fp32"), "infer_ms": after.get("infer_ms")}


def bench_pipeline(video: str, weights: str | None, seconds: float, paced_fps: float, net_size: int,
                   precision: str = "auto", settings: list[str] | tuple[str, ...] = ()) -> dict:
    weights_path = str(resolve_weights_path(weights))
    if not Path(weights_path).is_file():
        raise StreamerError(f"bench pipeline needs weights: {weights_path} does not exist (pass --weights)")
    threads = default_threads()
    print(f"video {video}; weights {weights_path}; {threads} cores; {seconds:g} s per measurement; "
          f"load {load_1m()}\n")
    results: dict = {}
    print("(a) official run.py loop, torch eager (baseline) ...", flush=True)
    results["official_torch"] = official_loop(video, torch_forward(weights_path, threads), seconds, net_size)
    print(f"    {results['official_torch']['fps']:.1f} fps, latency {results['official_torch']['latency_ms']}")
    try:
        conf = load_config(None, [Override("model.net_size", net_size, "bench"),
                                  Override("model.precision", "fp32", "bench")])
        backend = load_depth_model(conf["model"], weights_path).fp32_backend  # fp32 serves: the same backend
        assert isinstance(backend, OnnxRuntimeBackend)  # model.backend auto on the CPU
        net_w, net_h = network_size(640, 480, net_size)
        forward, ov_precision = openvino_forward(backend.onnx_file(net_h, net_w))
    except ImportError:
        print("(b) skipped: openvino is not installed")
    else:
        print(f"(b) official run.py loop, network on OpenVINO (default hints: {ov_precision}) ...", flush=True)
        results["official_openvino"] = official_loop(video, forward, seconds, net_size)
        print(f"    {results['official_openvino']['fps']:.1f} fps, latency "
              f"{results['official_openvino']['latency_ms']}")
    common = ["--source", video, "--weights", weights_path, "--set", "source.loop=true",
              "--set", f"model.net_size={net_size}", "--set", f"model.precision={precision}"]
    common += [arg for item in settings for arg in ("--set", item)]  # layouts, preprocessing... to compare
    print("(c) ours, lossless (file unpaced, the decoder waits for the network) ...", flush=True)
    lossless = results["ours_lossless"] = measure_daemon(common + ["--set", "source.pace=false"], seconds, False)
    print(f"    {lossless['fps_out']:.1f} fps ({lossless['precision']}), dropped {lossless['dropped']} of "
          f"{lossless['captured']}, {lossless['cpu_ms_per_frame']:.1f} CPU-ms per frame")
    print(f"    CPU-ms per frame by thread: {lossless['cpu_ms_per_frame_by_thread']}")
    for name, base in (("official_torch", "torch"), ("official_openvino", "OpenVINO")):
        if name in results:
            print(f"    {lossless['fps_out'] / results[name]['fps']:.2f}x the official loop on {base}")
    print(f"(d) ours as a {paced_fps:g} fps camera (file paced) ...", flush=True)
    paced = results["ours_paced"] = measure_daemon(common + ["--set", f"source.pace_fps={paced_fps}"], seconds, True)
    print(f"    in {paced['fps_in']:.1f} fps, out {paced['fps_out']:.1f} fps ({paced['precision']}), dropped "
          f"{paced['dropped_pct']:.1f} %, capture->publish {paced['capture_to_publish_ms']} ms, "
          f"{paced['cpu_ms_per_frame']:.1f} CPU-ms per published frame, RSS {paced['rss_mb']} MB, start to first "
          f"frame {paced['startup_to_first_frame_s']} s")
    print(f"    CPU-ms per published frame by thread: {paced['cpu_ms_per_frame_by_thread']}")
    print(f"\nload {load_1m()} (1-minute average at the end; above ~0.5 before the start means a busy machine)")
    return results
