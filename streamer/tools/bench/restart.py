"""`depth-streamer bench restart VIDEO`: seconds from `run` to serving the low precision, first start vs restart.

Two daemon processes in turn on the same source, weights and a fresh private cache directory: the first measures
(calibration, quantisation, gate, race) and keeps its verdict; the second should find it and serve it at once.
For each start: seconds from spawning the process to the first depth frame, to a low precision serving (from
/stats, polled every 0.1 s), and to the decision being final (re-check done); the precision, where it came from
(measured / cache) and how many int8 quantisations ran.
"""
from __future__ import annotations

import os
import tempfile
import time

from streamer.errors import StreamerError
from streamer.tools.measure import DaemonProcess, http_stats, load_1m

TIMEOUT_S = 300.0


def _one_start(args: list[str], env: dict[str, str]) -> dict:
    t0 = time.monotonic()
    daemon = DaemonProcess(args, env=env, log_level="info").start()
    marks: dict[str, float] = {}
    stats: dict = {}
    try:
        while "decided" not in marks:
            if time.monotonic() - t0 > TIMEOUT_S or not daemon.alive():
                raise StreamerError("the daemon did not settle its precision:\n" + daemon.log_tail())
            try:
                stats = http_stats(daemon.http_port)
            except OSError:
                time.sleep(0.1)
                continue
            model, now = stats.get("model", {}), time.monotonic() - t0
            if stats.get("frames_out", 0) > 0:
                marks.setdefault("first_frame", now)
            if model.get("precision", "fp32") != "fp32":
                marks.setdefault("low_precision", now)
            if marks.get("first_frame") is not None and not model.get("precision_pending", True):
                marks["decided"] = now
            time.sleep(0.1)
    finally:
        daemon.close()
    model = stats.get("model", {})
    return {**{k: round(v, 2) for k, v in marks.items()}, "precision": model.get("precision"),
            "origin": model.get("precision_origin"), "builds": model.get("precision_builds"),
            "cache_hit": "precision cache hit" in daemon.log}


def bench_restart(video: str, weights: str | None, precision: str = "auto") -> list[dict]:
    args = ["--source", video, "--set", "source.loop=true", "--set", f"model.precision={precision}"]
    args += ["--weights", weights] if weights else []
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as cache:
        env = {**os.environ, "DEPTH_STREAMER_CACHE": cache}
        print(f"{video}: precision={precision}, fresh cache {cache}; load {load_1m()}")
        for name in ("first start", "restart"):
            row = {"start": name, **_one_start(args, env)}
            rows.append(row)
            print(f"  {name:11s} first frame {row.get('first_frame', '-')} s, low precision serving "
                  f"{row.get('low_precision', '-')} s, decided {row.get('decided', '-')} s: {row['precision']} "
                  f"({row['origin']}, {row['builds']} int8 builds, cache hit {row['cache_hit']})")
    print(f"  load {load_1m()}")
    return rows
