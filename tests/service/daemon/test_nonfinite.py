"""Non-finite depth is never a result. Weights whose every value is finite but whose last convolution overflows make
every output inf: the daemon must publish no depth frame and say so on every channel - /healthz 503, the ZeroMQ
status topic, sd_notify STATUS, /stats and /metrics - POST /depth answers 500 with one line, `infer` fails naming
the file and writes nothing, and `run --check` runs the weights once and refuses them. Weights with a NaN tensor are
refused before any of that, by a read of the file that needs no torch."""
from __future__ import annotations

import http.client
import json
import math
import subprocess
import time

import torch
import zmq

from tests.conftest import IMAGES, REPO, SEED_WEIGHTS, cli, subprocess_env

from .harness import REALSHORT, START_TIMEOUT_S

REASON = "model output not finite"


def nan_weights(path):
    state = torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)
    state["pretrained.layer1.0.weight"][0, 0, 0, 0] = math.nan  # the stem convolution: it reaches every pixel
    torch.save(state, path)
    return path


def overflow_weights(path):
    """Every tensor finite, every output inf: the last 1x1 convolution's weights at 3e38 overflow float32."""
    state = torch.load(SEED_WEIGHTS, map_location="cpu", weights_only=True)
    state["scratch.output_conv.4.weight"] = torch.full_like(state["scratch.output_conv.4.weight"], 3e38)
    torch.save(state, path)
    return path


def test_non_finite_output_is_an_error_on_every_channel(spawn, notify, tmp_path):
    daemon = spawn("--weights", str(overflow_weights(tmp_path / "overflow.pt")), "--set", "source.loop=true",
                   env={"NOTIFY_SOCKET": notify.path})
    daemon.wait_for(lambda: "READY=1" in notify.lines(), START_TIMEOUT_S, "READY=1 (serving, error reported)")
    daemon.wait_for(lambda: REASON in daemon.http("/healthz")[2].decode(), 20.0, "/healthz naming the NaNs")
    assert daemon.http("/healthz")[0] == 503

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for topic in (b"depth", b"status"):
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(daemon.zmq_endpoint)
    topics, status = [], None
    try:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            if sub.poll(100):
                parts = sub.recv_multipart()
                topics.append(parts[0])
                if parts[0] == b"status":
                    status = json.loads(parts[2])
    finally:
        sub.close()
        ctx.term()
    assert b"depth" not in topics, "all-NaN depth was published"
    assert status is not None and status["state"] == "unhealthy" and REASON in status["reason"], status

    stats = daemon.stats()
    assert stats["nonfinite_frames"] > 0 and stats["frames_out"] == 0
    _, _, body = daemon.http("/metrics")
    line = next(x for x in body.decode().splitlines() if x.startswith("depth_streamer_nonfinite_frames_total"))
    assert float(line.split()[-1]) > 0
    daemon.wait_for(lambda: any(REASON in x for x in notify.lines() if x.startswith("STATUS=")), 10.0,
                    "STATUS= naming the NaNs")
    assert daemon.wait_log(REASON, 1.0)

    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=60)
    try:
        # 640x480: the live stream's network shape, so no export is needed for it
        conn.request("POST", "/depth?format=npy", body=IMAGES["gradient_640x480"].read_bytes(),
                     headers={"Content-Type": "image/png"})
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 500 and resp.getheader("X-Depth-Range") is None, (resp.status, body)
    assert body.count("\n") == 1 and REASON in body and "NaN or inf" in body, body


def test_infer_fails_naming_the_file_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(cli("infer", "--weights", str(overflow_weights(tmp_path / "overflow.pt")),
                              str(IMAGES["lions"]), str(REALSHORT), "--output-dir", str(out)),
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=subprocess_env())
    assert proc.returncode == 1, proc.stderr
    assert f"{IMAGES['lions']}: {REASON}" in proc.stderr and f"{REALSHORT} frame 0" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    # no .npy/.png, no video, no partial file: only the run's record, which names both failures
    assert sorted(p.name for p in out.iterdir()) == ["infer.json"]
    outcomes = json.loads((out / "infer.json").read_text())["outputs"]
    for failed in (IMAGES["lions"], REALSHORT):
        assert outcomes[str(failed)].startswith("failed: ") and REASON in outcomes[str(failed)], outcomes


def test_check_runs_the_weights_once_and_refuses_non_finite_output(tmp_path):
    cache = {"DEPTH_STREAMER_CACHE": str(tmp_path / "cache")}
    for weights, words in ((overflow_weights(tmp_path / "overflow.pt"), ["built-in test image", REASON]),
                           (nan_weights(tmp_path / "nan.pt"), ["pretrained.layer1.0.weight holds 1 NaN/Inf"])):
        proc = subprocess.run(cli("run", "--check", "--weights", str(weights)), capture_output=True, text=True,
                              timeout=300, cwd=REPO, env=subprocess_env(**cache))
        errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
        assert proc.returncode == 78 and len(errors) == 1, proc.stderr
        assert str(weights) in errors[0] and all(w in errors[0] for w in words), errors[0]
        assert "[http]" not in proc.stdout  # no config printed as if all were well
