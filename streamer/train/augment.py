"""Training samples: random rescale + crop at the network size, horizontal flip, colour jitter; inverse-depth target.

Every random choice comes from a generator seeded by (seed, epoch, position in the epoch), so a resumed run
draws exactly the crops and colours the uninterrupted run would have, with no generator state to carry.
"""
from __future__ import annotations

import cv2
import numpy as np

from streamer.model.preprocess import MEAN, STD
from streamer.train.dataset import Sample, valid_mask

MAX_ZOOM = 1.3  # crops cover 1/1.3 .. all of the shorter side: scale variety without losing the scene layout
JITTER = 0.2  # brightness, contrast and saturation each vary by up to +-20 %


def sample_rng(seed: int, epoch: int, position: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, position])


def _resize_for_crop(bgr: np.ndarray, depth: np.ndarray, size: int, zoom: float):
    h, w = depth.shape
    scale = size * zoom / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    bgr = cv2.resize(bgr, (new_w, new_h), interpolation=interp)
    # Nearest for depth: interpolating would invent depths across object edges and blend in invalid zeros.
    depth = cv2.resize(depth, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    return bgr, depth


def color_jitter(rgb: np.ndarray, rng: np.random.Generator, amount: float = JITTER) -> np.ndarray:
    """Brightness, contrast and saturation on float RGB in 0..1 (hue is left alone: it rarely helps depth)."""
    b, c, s = rng.uniform(1 - amount, 1 + amount, size=3)
    rgb = rgb * b
    rgb = (rgb - rgb.mean()) * c + rgb.mean()
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    rgb = (rgb - gray[..., None]) * s + gray[..., None]
    return np.clip(rgb, 0.0, 1.0)


def make_example(sample: Sample, size: int, rng: np.random.Generator | None, max_depth: float | None = None):
    """(image 3 x S x S float32 normalised RGB, target S x S inverse depth (0 = invalid), mask S x S bool).

    With rng None: no augmentation, a centre crop (for deterministic loss measurements).
    """
    zoom = rng.uniform(1.0, MAX_ZOOM) if rng is not None else 1.0
    bgr, depth = _resize_for_crop(sample.bgr, sample.depth, size, zoom)
    h, w = depth.shape
    if rng is not None:
        y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    else:
        y0, x0 = (h - size) // 2, (w - size) // 2
    bgr = bgr[y0:y0 + size, x0:x0 + size]
    depth = depth[y0:y0 + size, x0:x0 + size]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    if rng is not None:
        # Horizontal flips only: a vertical flip would put the floor on top and teach the net a wrong layout prior.
        if rng.random() < 0.5:
            rgb, depth = rgb[:, ::-1], depth[:, ::-1]
        rgb = color_jitter(rgb, rng)
    image = ((rgb - MEAN) / STD).transpose(2, 0, 1)
    mask = valid_mask(depth, max_depth)
    target = np.zeros(depth.shape, np.float32)
    target[mask] = 1.0 / depth[mask]
    return np.ascontiguousarray(image, np.float32), target, mask


def collate(examples):
    """Stack make_example results into torch tensors (N x 3 x S x S, N x S x S, N x S x S bool)."""
    import torch

    images, targets, masks = zip(*examples, strict=True)
    return (torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(targets)),
            torch.from_numpy(np.stack(masks)))
