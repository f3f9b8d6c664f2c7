"""The daemon's preprocessing, chosen like its precision: decoder-scaled input serves only after it passed the gate
against the exact path on the source's own frames and was faster; it then follows a resolution change mid-stream,
and the camera picture is still made for the consumers that show it (the colour topic)."""
from __future__ import annotations

import time

from streamer.client import DepthSubscriber
from tests.service.daemon.test_precision import FAST, PROXY, settled_stats
from tests.service.daemon.test_resolution_change import _joined_stream

from .harness import decode_jpeg

# Thresholds any non-garbage input passes (the trained proxy's decoder-scaled input is ~7 % NMAE from exact): this
# test is about what the daemon does once it passes; the real thresholds' verdicts are tests/model/precision's.
LOOSE = ("--set", "model.max_nmae=0.5", "--set", "model.max_frame_nmae=1.0", "--set", "model.min_corr=0.5")


def test_decoder_scaled_input_serves_when_it_passes_and_wins_and_follows_a_resolution_change(spawn, tmp_path):
    daemon = spawn("--weights", str(PROXY), "--set", "model.precision=auto", "--set",
                   "model.preprocess=decoder-scaled", *LOOSE, *FAST, source=_joined_stream(tmp_path))
    model = settled_stats(daemon)["model"]
    reason = model["precision_reason"]
    assert "decoder-scaled passed" in reason, reason  # gated, with its error and time in the reason
    if model["preprocess"] != "decoder-scaled":  # passed, but lost the race on this machine: exact, saying so
        assert model["preprocess"] == "exact" and "decoder-scaled passed but was not faster" in reason, reason
    else:
        assert "preprocessing decoder-scaled: " in reason, reason
    depth_shapes, color_shapes = set(), set()
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth", "color")) as sub:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ({(192, 256), (128, 256)} <= depth_shapes
                                                   and {(480, 640), (180, 320)} <= color_shapes):
            msg = sub.recv(timeout=1.0)
            if msg is None:
                continue
            topic, header, payload = msg
            if topic == "depth":
                depth_shapes.add(payload.shape)
            elif topic == "color":
                color_shapes.add(decode_jpeg(payload).shape[:2])
    assert {(192, 256), (128, 256)} <= depth_shapes, depth_shapes
    assert {(480, 640), (180, 320)} <= color_shapes, color_shapes  # the camera picture, made for this topic
    stats = daemon.stats()
    assert stats["model"]["preprocess"] == model["preprocess"]  # a resolution change is no reason to decide again
    assert daemon.alive and stats["source"]["resolution_changes"] >= 1 and stats["errors"] == 0, stats
