"""`depth-streamer bench uploads VIDEO`: the daemon's resident memory under photo uploads, measured from outside.

One daemon on VIDEO (looping, paced like a camera); once it serves, its RSS is the baseline. Then photos are posted
one after another, the kinds a visitor can send: a camera photo, a 12 MP JPEG (decoded reduced), a 49 MP PNG (PNG
has no reduced decode: the worst case the pixel limit allows), and 10000x10 / 10x10000 strips (aspects nobody has).
RSS is sampled every 20 ms throughout; the figures are the baseline, the peak and the level after the last photo,
and the peak's excess over the baseline is what uploads cost (README "Uploads" states the budget).
"""
from __future__ import annotations

import http.client
import json
import threading
import time

import cv2
import numpy as np

from streamer.core import timing
from streamer.tools.measure import DaemonProcess, http_stats, load_1m, looping_video_args, rss_mb


def _photo(width: int, height: int, ext: str) -> bytes:
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.dstack([(xx * 255 // max(width, 1)), (yy * 255 // max(height, 1)),
                       np.full((height, width), 90)]).astype(np.uint8)
    cv2.circle(image, (width // 3, height // 2), max(1, min(width, height) // 4), (250, 250, 250), -1)
    return cv2.imencode(ext, image)[1].tobytes()


PHOTOS = (("camera 640x480 jpeg", 640, 480, ".jpg"), ("12 MP jpeg", 4000, 3000, ".jpg"),
          ("49 MP png", 7000, 7000, ".png"), ("strip 10000x10 png", 10000, 10, ".png"),
          ("strip 10x10000 png", 10, 10000, ".png"))


def _post(port: int, body: bytes, ctype: str) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    def post() -> int:
        conn.request("POST", "/depth?format=png", body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        resp.read()
        return resp.status

    try:
        status, ms = timing.timed(post)
        return status, ms / 1e3
    finally:
        conn.close()


def bench_uploads(video: str, weights: str | None, rounds: int = 2, fps: float = 10.0) -> dict:
    photos = [(name, _photo(w, h, ext), "image/png" if ext == ".png" else "image/jpeg") for name, w, h, ext in PHOTOS]
    args = looping_video_args(video, weights, fps, "--set", "model.precision=fp32")
    daemon = DaemonProcess(args, log_level="warning")
    daemon.start()
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_mb(daemon.pid))

    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if http_stats(daemon.http_port)["frames_out"] > 20:
                    break
            except OSError:
                pass
            if not daemon.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not serve:\n{daemon.log_tail()}")
            time.sleep(0.5)
        baseline = rss_mb(daemon.pid)
        threading.Thread(target=sample, daemon=True).start()
        seconds: dict[str, list[float]] = {name: [] for name, _, _ in photos}
        for _ in range(rounds):
            for name, body, ctype in photos:
                status, took = _post(daemon.http_port, body, ctype)
                if status != 200:
                    raise RuntimeError(f"{name}: HTTP {status}")
                seconds[name].append(round(took, 2))
        after = rss_mb(daemon.pid)
    finally:
        stop.set()
        daemon.close()
    result = {"baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(peak[0], 1), "after_rss_mb": round(after, 1),
              "upload_excess_mb": round(peak[0] - baseline, 1), "seconds_per_photo": seconds, "rounds": rounds,
              "load_1m": load_1m()}
    print(json.dumps(result, indent=1))
    return result
