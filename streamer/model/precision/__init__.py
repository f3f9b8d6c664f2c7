"""The network's precision: one home for choosing, building, gating, caching and describing fp32/bf16/int8.

cpu (what the CPU is: settings and order, never the verdict), calibration (real frames), quantize (the int8 file),
backends (OpenVINO / ONNX Runtime for a prepared file), gate (accuracy against fp32), choose (build, gate, race),
manager (what the daemon and the CLI call).
"""
