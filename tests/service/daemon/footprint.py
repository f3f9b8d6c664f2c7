"""What a serving daemon holds in memory (README "Memory"): never torch; no uploads' session until a visitor sends a
photo, nor upload_keep_s after the last one; while a low precision serves, no fp32 session except during a
re-check's reference runs; freed heap is given back periodically. Checked on the restart in test_precision.py (a
daemon serving a kept verdict, as a robot's daemon runs after its first start), whose arguments include FOOTPRINT
and which logs at debug level. RSS itself is measured by `depth-streamer bench footprint`, not asserted here (it
depends on the machine's libraries)."""
from __future__ import annotations

import http.client
from pathlib import Path

import cv2
import numpy as np

from .harness import DaemonProcess

FOOTPRINT = ("--set", "model.recheck_s=3", "--set", "http.upload_keep_s=2")  # a re-check and a release, soon
RELEASED = r"fp32: released \d+ ONNX Runtime session"
UPLOAD_SESSION = "the photo network's session is built"


def post_photo(daemon: DaemonProcess) -> int:
    ok, jpeg = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8))
    assert ok
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=120)
    try:
        conn.request("POST", "/depth?format=npy", body=jpeg.tobytes(), headers={"Content-Type": "image/jpeg"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def assert_serving_footprint(daemon: DaemonProcess, model: dict) -> None:
    """`daemon` was started with FOOTPRINT at log level debug and serves `model` (its settled /stats "model")."""
    daemon.wait_log("heap trimmed: ", 60)  # the supervisor gives freed heap back every 30 s
    assert "libtorch" not in Path(f"/proc/{daemon.pid}/maps").read_text()
    if model["precision"] != "fp32":
        first = daemon.wait_log(RELEASED, 30)  # once the live re-check of the kept verdict passed
        after = daemon.lines().index(first) + 1
        daemon.wait_log(RELEASED, 60, after=after)  # a re-check rebuilt it for its reference runs: released again
    else:  # nothing beat fp32 on this machine: fp32 serves, and keeps its session
        assert "fp32: released" not in daemon.log, model["precision_reason"]
    assert UPLOAD_SESSION not in daemon.log  # uploads are on (the default), but no photo came yet
    assert post_photo(daemon) == 200
    daemon.wait_log(UPLOAD_SESSION, 10)
    daemon.wait_log("the photo network's session is released", 30)  # upload_keep_s after the photo
    assert daemon.stats()["errors"] == 0 and "libtorch" not in Path(f"/proc/{daemon.pid}/maps").read_text()
