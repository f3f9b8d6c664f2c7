"""The peer loops: isl-org/MiDaS `run.py`'s camera loop, step for step, with its network in torch (as shipped) or on
OpenVINO (what MiDaS's README points CPU users to; default hints, which pick bf16 on CPUs that have it).

Per frame: read, BGR->RGB, /255, float64 cubic resize, normalise, forward, bicubic upsample to the frame size,
per-frame min/max, inferno, side by side. No window: imshow is the one thing we cannot do here.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.model.preprocess import MEAN, STD, network_size
from streamer.tools.measure import pcts

Forward = Callable[[np.ndarray], np.ndarray]  # 1x3xHxW float32 -> 1xHxW float32


def official_transform(rgb: np.ndarray, net_size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    net_w, net_h = network_size(w, h, net_size)
    resized = cv2.resize(rgb, (net_w, net_h), interpolation=cv2.INTER_CUBIC)  # float64, as run.py
    normalized = (resized - MEAN.astype(np.float64)) / STD.astype(np.float64)
    return np.ascontiguousarray(np.transpose(normalized, (2, 0, 1))).astype(np.float32)[None]


def torch_forward(weights: str, threads: int) -> Forward:
    """run.py without --optimize: torch eager, NCHW, float32."""
    import torch

    from streamer.model import build_network
    from streamer.model.weights import read_state_dict

    torch.set_num_threads(threads)
    model = build_network(read_state_dict(weights))

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.forward(torch.from_numpy(x)).numpy()
    return forward


def openvino_forward(onnx_file: Path) -> tuple[Forward, str]:
    """The same network compiled by OpenVINO with its default CPU hints; returns (forward, inference precision)."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(onnx_file), "CPU")
    request = compiled.create_infer_request()
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))

    def forward(x: np.ndarray) -> np.ndarray:
        return np.asarray(request.infer({0: x})[compiled.output(0)])
    return forward, precision


def official_loop(video: str, forward: Forward, seconds: float, net_size: int) -> dict:
    """The camera loop for `seconds`, the file looping; fps and per-frame latency."""
    import torch  # run.py upsamples with torch's bicubic interpolate

    times: list[float] = []
    frames = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with av.open(video) as container:
            for frame in container.decode(video=0):
                t0 = time.perf_counter()
                bgr = frame.to_ndarray(format="bgr24")
                rgb = np.flip(bgr, 2)  # run.py: "flip required to get RGB"
                prediction = forward(official_transform(rgb / 255, net_size))
                prediction = torch.nn.functional.interpolate(
                    torch.from_numpy(prediction).unsqueeze(1), size=rgb.shape[:2], mode="bicubic",
                    align_corners=False).squeeze().numpy()
                lo, hi = prediction.min(), prediction.max()  # per-frame min/max: the flicker we remove
                normalized = 255 * (prediction - lo) / (hi - lo)
                # np.uint8(array) is an array (run.py's own call, kept); numpy's stub says a scalar
                colored = cv2.applyColorMap(np.uint8(normalized), cv2.COLORMAP_INFERNO)  # type: ignore[call-overload]
                np.concatenate((bgr, colored), axis=1)  # create_side_by_side
                times.append((time.perf_counter() - t0) * 1e3)
                frames += 1
                if time.monotonic() >= deadline:
                    break
    return {"fps": frames / (sum(times) / 1e3), "frames": frames, "latency_ms": pcts(times)}
