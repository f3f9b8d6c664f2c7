"""The verdict on every channel of a real daemon (ground mode on the demo source, trained proxy weights): the wire
`anchor` block of depth and metric headers, `metric_sigma` with the metric map's seq (computed only for its
subscribers), DepthSubscriber, /stats, the /metrics verdict gauge, the page's /depth_at (depth +- sigma) and legend,
and sd_notify STATUS=. Without an error model the demo's ground fit cannot vouch for the walls and objects: the
verdict says `uncertain` and why, and that is what every channel must carry."""
from __future__ import annotations

import json
import re

import numpy as np

from streamer.client.subscriber import DepthSubscriber

from .harness import MIDAS
from .test_metric import by_seq

NET = (192, 256)
VERDICTS = ("good", "uncertain", "refused")


def test_every_channel_carries_the_verdict(spawn, notify):
    daemon = spawn("--weights", str(MIDAS / "trained_proxy.pt"), "--set", "metric.mode=ground", "--set",
                   "source.fps=10", source="demo", env={"NOTIFY_SOCKET": notify.path})
    daemon.wait_healthy()
    # the wire: metric and metric_sigma of one seq, both with the anchor block and its verdict
    got = by_seq(daemon.zmq_endpoint, ("metric", "metric_sigma"), timeout=30)
    (mh, metric), (sh, sigma) = got["metric"], got["metric_sigma"]
    anchor = mh["anchor"]
    assert anchor["verdict"] in VERDICTS and anchor["verdict_reason"] and sh["anchor"] == anchor
    assert anchor["verdict"] == "uncertain" and "off the floor, unverified without an error model" in \
        anchor["verdict_reason"]
    assert 0 < anchor["expected_abs_rel"] < 1 and set(anchor["evidence"]) >= {"sigma_net", "unbounded", "verified"}
    assert anchor["evidence"]["miss_abs_rel"] is None  # ground: no anchors to miss
    assert sigma.shape == metric.shape == NET and sigma.dtype == np.float32 and sh["unit"] == "m"
    published = np.isfinite(metric)
    assert np.isnan(sigma[~published]).all() and (sigma[published] > 0).all()
    # sigma is about the error: larger (in metres) where the map is farther
    near, far = metric[published] < np.median(metric[published]), metric[published] >= np.median(metric[published])
    assert np.median(sigma[published][far]) > np.median(sigma[published][near])
    # DepthSubscriber keeps the newest anchor block and its verdict; a `depth` subscriber gets no metric_sigma
    with DepthSubscriber(daemon.zmq_endpoint, topics=("depth",)) as sub:
        msg = daemon.wait_for(lambda: sub.recv(timeout=1), 20, "a depth frame")
        assert msg[0] == "depth" and sub.verdict == "uncertain" and sub.anchor["verdict_reason"]
    # /stats and /metrics
    stats = daemon.stats()["metric"]
    assert stats["anchor"]["verdict"] == "uncertain" and stats["anchor"]["expected_abs_rel"] > 0
    status, _, body = daemon.http("/metrics")
    text = body.decode()
    assert status == 200
    assert 'depth_streamer_metric_verdict{camera="camera0",mode="ground",verdict="uncertain"} 1.0' in text
    assert 'depth_streamer_metric_verdict{camera="camera0",mode="ground",verdict="good"} 0.0' in text
    assert re.search(r'depth_streamer_metric_expected_abs_rel\{camera="camera0"\} [0-9.e-]+', text)
    # the page: depth +- sigma under the cursor, the verdict in the legend's anchor block
    status, _, body = daemon.http("/depth_at?x=0.5&y=0.9")
    at = json.loads(body)
    assert status == 200 and at["verdict"] == "uncertain"
    assert isinstance(at["metres"], float) and isinstance(at["sigma"], float) and at["sigma"] > 0
    status, _, body = daemon.http("/legend.json")
    assert status == 200 and json.loads(body)["anchor"]["verdict"] == "uncertain"
    status, _, page = daemon.http("/")
    assert b"not verified" in page and b"verdict" in page
    # sd_notify STATUS= says it too
    daemon.wait_for(lambda: any(line.startswith("STATUS=") and "metric ground:" in line and ", uncertain" in line
                                for line in notify.lines()), 30, "a STATUS= line with the verdict")
