"""The daemon chooses its precision from the running source's own frames, by measurement on whatever CPU runs the
suite: a low precision serves only when it passed the gate and beat fp32 in a race, with its measured error in
every header and /stats; otherwise fp32 serves, saying why. A restart on the same source serves the kept verdict
without quantising again."""
from __future__ import annotations

import json
import signal
import time

from streamer.tools.measure import free_port
from tests.conftest import MIDAS

from .footprint import FOOTPRINT, assert_serving_footprint
from .harness import START_TIMEOUT_S, DaemonProcess

PROXY = MIDAS / "trained_proxy.pt"
SETTLE_S = 300.0  # calibration frames, an int8 build, the gate and the race, on a busy 2-core box
FAST = ("--set", "source.loop=true", "--set", "model.calibration_seconds=2", "--set", "model.calibration_frames=8",
        "--set", "model.gate_frames=6")


def settled_stats(daemon: DaemonProcess) -> dict:
    daemon.wait_healthy(START_TIMEOUT_S)
    return daemon.wait_for(lambda: (s := daemon.stats_or_none()) and not s["model"]["precision_pending"] and s,
                           SETTLE_S, "the precision decision")


def depth_header(daemon: DaemonProcess) -> dict:
    return json.loads(daemon.next_message(b"depth")[1])


def assert_served_by_measurement(model: dict) -> None:
    reason = model["precision_reason"]
    if model["precision"] == "fp32":
        assert "precision_error" not in model and ("REFUSED" in reason or "LOST the race" in reason), reason
        return
    error = model["precision_error"]
    assert error["passed"] and error["nmae"] <= 0.035 and error["corr"] >= 0.999, error
    assert error["ms"] < error["fp32_ms"], error  # it beat fp32 in the race on this machine


def test_trained_weights_serve_what_passed_the_gate_and_won_the_race(spawn):
    """On an unpaced file (lossless): the candidates are built and raced as they serve, with two frames in flight
    on an OpenVINO throughput layout; every frame still comes out once and in order. (The restart test below covers
    a paced file, one frame at a time.)"""
    daemon = spawn("--weights", str(PROXY), "--set", "model.precision=auto", "--set", "source.pace=false", *FAST)
    model = settled_stats(daemon)["model"]
    assert_served_by_measurement(model)
    assert model["precision_origin"] == "measured" and "NMAE" in model["precision_reason"]
    if model["precision"] != "fp32":  # a low precision (OpenVINO, or ONNX Runtime without it): two at a time
        assert model["streams"] == 2 and "(2 at once)" in daemon.log, model
    else:  # fp32 on ONNX Runtime: one session's threads, one frame at a time
        assert model["streams"] == 1, model
    seqs = [json.loads(m[1])["seq"] for m in daemon.messages(b"depth", 40)]
    assert seqs == sorted(set(seqs)), seqs  # in capture order (a subscriber may miss some: never out of order)
    assert daemon.stats()["dropped"] == 0  # lossless: the decoder waited for the network, frames in flight or not
    header = depth_header(daemon)
    assert header["precision"] == model["precision"]
    if model["precision"] != "fp32":
        assert header["precision_error"]["nmae"] == model["precision_error"]["nmae"]
    assert "precision decided" in daemon.log
    assert daemon.frames_out() > 0 and daemon.stats()["errors"] == 0


def test_random_weights_are_refused_and_stay_fp32_saying_so(spawn):
    daemon = spawn("--set", "model.precision=int8", *FAST)  # the harness's default weights: random_seed0.pt
    model = settled_stats(daemon)["model"]
    assert model["precision"] == "fp32" and model["precision_requested"] == "int8", model
    assert "int8 REFUSED" in model["precision_reason"]
    assert_served_by_measurement(model)
    assert depth_header(daemon)["precision"] == "fp32"
    warning = daemon.wait_log(r"WARNING .*--precision int8 requested, ", 10.0)
    assert "fp32 runs" in warning and "int8 REFUSED" in warning, warning


def test_a_restart_on_the_same_source_serves_the_kept_verdict_without_quantising(tmp_path):
    """The second start is also footprint.py's daemon: what it holds while it serves."""
    cache = tmp_path / "cache"  # its own: the first start must measure, the second must find that verdict
    args = ("--weights", str(PROXY), "--set", "model.precision=auto", *FAST, *FOOTPRINT)
    first = DaemonProcess(*args, cache=cache).start()
    try:
        before = settled_stats(first)["model"]
        assert before["precision_origin"] == "measured" and "precision cache miss" in first.log
        assert before["precision_builds"] == 1, before  # auto always builds int8: quantised once
    finally:
        first.close()
    t0 = time.monotonic()
    second = DaemonProcess(*args, cache=cache, log_level="debug").start()
    try:
        after = settled_stats(second)["model"]
        seconds = time.monotonic() - t0
        assert after["precision"] == before["precision"] and after["precision_origin"] == "cache", after
        assert after["precision_builds"] == 0 and "precision cache hit" in second.log
        assert "quantising" not in second.log  # the int8 file came from the cache, never rebuilt
        assert_served_by_measurement(after)
        if after["precision"] != "fp32":  # served at once, then re-checked against fp32 on this run's frames
            assert "re-checked on the first" in after["precision_reason"] and after["precision_error"]["passed"]
        print(f"second start: {after['precision']} from the cache, decided {after['precision_decided_s']} s "
              f"after the stage started, {seconds:.1f} s after spawning the process")
        assert_serving_footprint(second, after)
    finally:
        second.close()


def test_a_stop_during_the_int8_build_exits_zero_and_the_next_start_cleans_its_work(tmp_path):
    """SIGTERM while ONNX Runtime quantises in the precision thread (native code no signal interrupts): the daemon
    exits 0 at once rather than aborting in the interpreter's teardown (exit 134, a failed stop for systemd), and the
    build's unfinished work folder is removed by the next start's cache clean-up."""
    from streamer.model.cache import remove_stale_parts

    cache = tmp_path / "cache"
    port = free_port()  # the demo with everything on, as `make run` runs it
    daemon = DaemonProcess("--weights", str(PROXY), "--set", "model.precision=int8",
                           "--set", "model.calibration_seconds=2", "--set", "metric.mode=ground",
                           "--set", "foxglove.enabled=true", "--set", f"foxglove.port={port}", cache=cache,
                           source="demo").start()  # one --source: a second would be a second stream
    try:
        daemon.wait_log(r"quantising .* to int8", SETTLE_S)
        time.sleep(2.0)  # into the calibration runs on 32 frames (ONNX Runtime sessions in the precision thread)
        rc, seconds = daemon.stop(signal.SIGTERM, timeout=30.0)
    finally:
        daemon.close()
    assert rc == 0, daemon.log_tail()
    print(f"SIGTERM during the int8 build -> exit {rc} in {seconds:.2f} s")
    onnx = cache / "onnx"
    left = set(onnx.glob(".quant.*"))
    if "exiting without waiting for precision" in daemon.log:  # the build was still running at the exit
        assert left, sorted(p.name for p in onnx.iterdir())
    assert left <= set(remove_stale_parts(onnx)) and not list(onnx.glob(".quant.*"))
