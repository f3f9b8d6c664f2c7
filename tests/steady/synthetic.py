"""Synthetic inverse-depth scenes and MiDaS-like observations of them, plus the flicker/error metrics."""
from __future__ import annotations

import numpy as np

H, W = 192, 256


def room(h: int = H, w: int = W) -> np.ndarray:
    """Ground-truth inverse depth (1/m) of a room: back wall, floor, side walls and three objects."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    inv = np.full((h, w), 1 / 6.0, np.float32)  # back wall at 6 m
    horizon = 0.45 * h
    floor = np.where(y > horizon, (y - horizon) / (h - horizon) * (1.0 - 1 / 6.0) + 1 / 6.0, 0)  # 6 m .. 1 m
    left = np.where(x < 0.2 * w, 1 / 6.0 + (0.2 * w - x) / (0.2 * w) * 0.5, 0)  # side wall, nearer at the edge
    right = np.where(x > 0.85 * w, 1 / 6.0 + (x - 0.85 * w) / (0.15 * w) * 0.4, 0)
    inv = np.maximum.reduce([inv, floor, left, right]).astype(np.float32)
    inv[int(0.35 * h):int(0.75 * h), int(0.30 * w):int(0.45 * w)] = 0.5  # a box at 2 m
    disc = (x - 0.65 * w) ** 2 + (y - 0.6 * h) ** 2 < (0.1 * h) ** 2
    inv[disc] = 0.8  # a ball at 1.25 m
    inv[int(0.2 * h):int(0.7 * h), int(0.52 * w):int(0.56 * w)] = 0.3  # a pole at 3.3 m
    return inv


def span(a: np.ndarray) -> float:
    lo, hi = np.percentile(a, [2, 98])
    return float(hi - lo)


class Camera:
    """Observes a truth map like MiDaS does: Gaussian noise, then a random per-frame scale and shift."""

    def __init__(self, seed: int = 0, noise: float = 0.03, scale_jitter: float = 0.2, shift_jitter: float = 0.1,
                 base_scale: float = 1000.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise, self.scale_jitter, self.shift_jitter, self.base = noise, scale_jitter, shift_jitter, base_scale

    def __call__(self, truth: np.ndarray) -> np.ndarray:
        sigma = self.noise * span(truth)
        noisy = truth + self.rng.normal(0.0, sigma, truth.shape)
        scale = self.base * float(np.exp(self.rng.normal(0.0, self.scale_jitter)))
        shift = self.base * span(truth) * float(self.rng.normal(0.0, self.shift_jitter))
        return (scale * noisy + shift).astype(np.float32)


def affine_to(a: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """`a` mapped into truth units by one least-squares scale/shift over the whole frame (or `where`)."""
    m = np.ones(a.shape, bool) if where is None else where
    scale, shift = np.polyfit(a[m].astype(np.float64), truth[m].astype(np.float64), 1)
    return scale * a + shift


def flicker(frames: list[np.ndarray], truth: np.ndarray) -> float:
    """Mean |f_t - f_{t-1}| / span(truth), each frame first mapped to truth units by its own affine fit.
    Scale-invariant and strict: any per-frame affine drift of the raw input is removed before measuring, so only
    genuine pixel-level flicker counts."""
    mapped = [affine_to(f, truth) for f in frames]
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(mapped, mapped[1:], strict=False)])) / span(truth)


def error(frames: list[np.ndarray], truth: np.ndarray) -> float:
    """Mean |f_t - truth| / span(truth) after the same per-frame mapping: a steady but wrong map scores badly."""
    return float(np.mean([np.abs(affine_to(f, truth) - truth).mean() for f in frames])) / span(truth)
