"""The daemon chooses its precision from the running source's own frames: on trained weights (the proxy for the
official file) a low precision passes the gate and takes over, with its measured error in every header and /stats;
on random weights every low precision is refused and it stays fp32, saying why."""
from __future__ import annotations

import json

from tests.conftest import MIDAS

from .harness import START_TIMEOUT_S, DaemonProcess

PROXY = MIDAS / "trained_proxy.pt"
SETTLE_S = 240.0  # calibration frames, an int8 build and the gate, on a busy 2-core box
FAST = ("--set", "source.loop=true", "--set", "model.calibration_seconds=2", "--set", "model.calibration_frames=8",
        "--set", "model.gate_frames=6")


def settled_stats(daemon: DaemonProcess) -> dict:
    daemon.wait_healthy(START_TIMEOUT_S)
    return daemon.wait_for(lambda: (s := daemon.stats_or_none()) and not s["model"]["precision_pending"] and s,
                           SETTLE_S, "the precision decision")


def depth_header(daemon: DaemonProcess) -> dict:
    return json.loads(daemon.next_message(b"depth")[1])


def test_trained_weights_switch_to_a_gated_low_precision(spawn):
    daemon = spawn("--weights", str(PROXY), "--set", "model.precision=auto", *FAST)
    model = settled_stats(daemon)["model"]
    assert model["precision"] in ("int8", "bf16"), model
    error = model["precision_error"]
    assert error["passed"] and error["nmae"] <= 0.035 and error["corr"] >= 0.999, error
    header = depth_header(daemon)
    assert header["precision"] == model["precision"] and header["precision_error"]["nmae"] == error["nmae"]
    assert "precision decided" in daemon.log and "NMAE" in model["precision_reason"]
    assert daemon.frames_out() > 0 and daemon.stats()["errors"] == 0


def test_random_weights_are_refused_and_stay_fp32(spawn):
    daemon = spawn("--set", "model.precision=int8", *FAST)  # the harness's default weights: random_seed0.pt
    model = settled_stats(daemon)["model"]
    assert model["precision"] == "fp32" and "precision_error" not in model, model
    reason = model["precision_reason"]
    assert "int8" in reason and ("refused" in reason.lower() or "fail" in reason.lower()), reason
    assert depth_header(daemon)["precision"] == "fp32"
