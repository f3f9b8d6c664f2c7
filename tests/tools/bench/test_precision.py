"""`bench precision` on a short real clip: every precision/engine/layout row is timed against the same-run fp32
baseline and scored against fp32 on held-out frames; the CPU and the int8 settings it chose are printed."""
from __future__ import annotations

import io
import math

from streamer.model.precision.backends import openvino_available
from streamer.model.precision.cpu import detect
from streamer.tools.bench.precision import bench_precisions
from tests.conftest import MIDAS, VIDEO


def test_rows_are_timed_and_scored_against_fp32():
    out = io.StringIO()
    rows = bench_precisions(str(MIDAS / "trained_proxy.pt"), str(VIDEO / "realshort.mp4"), [(128, 96)], runs=2,
                            threads=2, calibration_frames=8, gate_frames=4, out=out)
    by_name = {r["row"]: r for r in rows}
    rr = "rr" if detect().reduce_range() else "no-rr"
    expected = {"fp32 onnxruntime", f"int8 onnxruntime {rr}"}
    if openvino_available():
        expected |= {"fp32 openvino", "bf16 openvino", "int8 openvino rr", "int8 openvino no-rr",
                     f"int8 ov {rr} pin=on", f"int8 ov {rr} pin=off", f"int8 ov {rr} 1 thr"}
    assert set(by_name) == expected
    assert by_name["fp32 onnxruntime"]["speedup"] == 1.0 and by_name["fp32 onnxruntime"]["nmae"] < 1e-9
    for row in rows:
        assert row["ms"] > 0 and math.isfinite(row["nmae"]) and 0 < row["corr"] <= 1.0 + 1e-9, row
    text = out.getvalue()
    assert f"CPU {detect().model}" in text and "ONEDNN_MAX_CPU_ISA=" in text and "128x96: load average" in text
