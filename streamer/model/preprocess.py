"""The official MiDaS small-model preprocessing, reproduced to float precision.

isl-org/MiDaS `run.py` for `midas_v21_small_256`: BGR->RGB, /255, `Resize(256, 256, keep_aspect_ratio=True,
ensure_multiple_of=32, resize_method="upper_bound", image_interpolation_method=cv2.INTER_CUBIC)`, ImageNet
normalisation, HWC->CHW. The resize stays in float64 like the official code: OpenCV's float32 cubic path differs by
up to 1.5e-5 (6.6e-5 after normalisation) on large downscales, which the 1e-5 parity bound does not allow; the
cost is ~1.5 ms per 640x480 frame. Everything after the resize runs in float32.

`exact=False` resizes in float32 (measured here: ~2x faster, max input difference ~1e-6). `mode="uint8"`: the same
cubic resize on the 8-bit image, then normalised (~6x faster; the resized image is rounded to 8 bits, which the
trained proxy's output notices at NMAE ~1.9 % on real footage, within the gate). `decoder-scaled`: the
source's decoder (FFmpeg's swscale) makes the network-size RGB straight from the camera's YUV in one pass and
`normalise_rgb` finishes it, so neither the full-size BGR nor the float resize is paid (mean input difference ~0.02
after normalisation). The precision stage adopts either only after gating the network's output on it against the
exact path's (model/precision/fastprep.py).
"""
from __future__ import annotations

import cv2
import numpy as np

STRIDE = 32  # MidasSmall needs both sides to be multiples of this (five stride-2 stages)
NET_SIZE = 256  # the small model's training size: the longer side after an "upper_bound" resize
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DECODER_SCALED = "decoder-scaled"
MODES = ("exact", "float32", "uint8", DECODER_SCALED)  # how a frame becomes the network input; exact: the reference
_SCALE = (1.0 / (255.0 * STD)).astype(np.float32)  # (x / 255 - mean) / std == x * _SCALE - _OFFSET
_OFFSET = (MEAN / STD).astype(np.float32)


def normalise_rgb(rgb: np.ndarray) -> np.ndarray:
    """h x w x 3 uint8 RGB already at the network size (the decoder scaled it) -> 1 x 3 x h x w float32 input."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an h x w x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    x = np.empty((1, 3, *rgb.shape[:2]), np.float32)
    # channel-planar from the start: broadcasting over whole planes is ~7x faster than over the last axis of HWC
    np.multiply(rgb.transpose(2, 0, 1), _SCALE[:, None, None], out=x[0], casting="unsafe")
    x[0] -= _OFFSET[:, None, None]
    return x


def _multiple_of(x: float, max_val: int) -> int:
    # np.round rounds half to even, as the official constrain_to_multiple_of does.
    y = int(np.round(x / STRIDE) * STRIDE)
    if y > max_val:
        y = int(np.floor(x / STRIDE) * STRIDE)
    return max(y, STRIDE)  # never a zero-sized side, even for extreme aspect ratios


def network_size(width: int, height: int, net_size: int = NET_SIZE) -> tuple[int, int]:
    """(net_w, net_h) for an input of width x height: keep aspect, multiples of 32, within net_size x net_size."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if net_size % STRIDE:
        raise ValueError(f"network size must be a multiple of {STRIDE}, got {net_size}")
    # "upper_bound": the smaller scale wins, so both sides end up at most net_size.
    scale = min(net_size / width, net_size / height)
    return _multiple_of(scale * width, net_size), _multiple_of(scale * height, net_size)


class Preprocessor:
    """BGR uint8 image -> 1 x 3 x h x w float32 network input. Reuses its buffers for same-sized frames."""

    def __init__(self, net_size: int = NET_SIZE, exact: bool = True, *, mode: str | None = None) -> None:
        """`mode`: "exact", "float32" or "uint8" (default: exact, or float32 when `exact` is false)."""
        self.net_size = net_size
        self.mode = mode or ("exact" if exact else "float32")
        if self.mode not in MODES[:3]:
            raise ValueError(f"preprocessing mode {self.mode!r}: a Preprocessor does {', '.join(MODES[:3])}")
        self.exact = self.mode == "exact"
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        key = (width, height)
        if key not in self._sizes:
            self._sizes[key] = network_size(width, height, self.net_size)
        return self._sizes[key]

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        if bgr.ndim == 2:  # grayscale files: the official read_image expands them to 3 channels too
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        if bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 BGR image, got shape {bgr.shape}")
        h, w = bgr.shape[:2]
        net_w, net_h = self.size_for(w, h)
        if self.mode == "uint8":
            return normalise_rgb(cv2.resize(bgr, (net_w, net_h), interpolation=cv2.INTER_CUBIC)[..., ::-1])
        rgb: np.ndarray = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float64 if self.exact else np.float32)
        rgb /= 255.0
        # Resize after the float conversion (as the official code does): resizing uint8 first would round.
        small = cv2.resize(rgb, (net_w, net_h), interpolation=cv2.INTER_CUBIC).astype(np.float32, copy=False)
        small -= MEAN
        small /= STD
        return np.ascontiguousarray(small.transpose(2, 0, 1))[None]
