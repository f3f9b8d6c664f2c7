"""The scale-and-shift-invariant loss with gradient matching, the augmentation and the learning-rate schedule."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from streamer.train.augment import make_example, sample_rng
from streamer.train.checkpoint import WarmupCosine
from streamer.train.dataset import Sample
from streamer.train.loss import compute_scale_and_shift, multiscale_gradient_loss, ssi_loss


def _batch(seed=0, n=2, h=32, w=40):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, h, w, generator=g) * 2 + 0.1
    mask = torch.rand(n, h, w, generator=g) > 0.2
    return target * mask, mask


def test_loss_is_zero_for_any_scale_and_shift_of_the_truth():
    target, mask = _batch()
    for scale, shift in ((1.0, 0.0), (4000.0, 12.0), (0.3, -5.0)):
        assert float(ssi_loss(target * scale + shift, target, mask)) == pytest.approx(0.0, abs=1e-5)  # float32
    s, t = compute_scale_and_shift(target * 4000.0 + 12.0, target, mask)
    assert torch.allclose(s, torch.full((2,), 1 / 4000.0), rtol=1e-4)
    assert torch.allclose(t, torch.full((2,), -12 / 4000.0), rtol=1e-3)


def test_loss_is_invariant_to_prediction_scale_and_ignores_invalid_pixels():
    target, mask = _batch()
    noise = torch.rand(target.shape, generator=torch.Generator().manual_seed(3))
    pred = target + 0.3 * noise
    base = float(ssi_loss(pred, target, mask))
    assert base > 0
    assert float(ssi_loss(pred * 250.0 + 7.0, target, mask)) == pytest.approx(base, rel=1e-4)
    garbage = torch.where(mask, pred, torch.full_like(pred, 1e4))
    # Invalid pixels never enter the data term; in the gradient term only differences between two valid pixels do.
    assert float(ssi_loss(garbage, target, mask)) == pytest.approx(base, rel=1e-5)


def test_gradient_term_sees_edges_the_data_term_averages_away():
    target = torch.zeros(1, 32, 32)
    target[:, :, 16:] = 1.0
    mask = torch.ones_like(target, dtype=torch.bool)
    blurred = torch.linspace(0, 1, 32).expand(1, 32, 32).clone()
    assert float(multiscale_gradient_loss(blurred, target, mask)) > 0
    assert float(multiscale_gradient_loss(target * 3, target * 3, mask)) == 0.0


def test_loss_gradients_flow_and_degenerate_images_do_not_nan():
    target, mask = _batch()
    pred = torch.zeros_like(target, requires_grad=True)  # a constant prediction: no unique alignment
    loss = ssi_loss(pred, target, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    empty = torch.zeros_like(mask)
    assert float(ssi_loss(target, target, empty)) == 0.0


def test_warmup_then_cosine():
    f = WarmupCosine(warmup=4, total=20)
    values = [f(s) for s in range(21)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]
    assert values[4] == 1.0 and values[12] == pytest.approx(0.5) and values[20] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(values[4:], values[5:], strict=False))


def test_augmentation_is_deterministic_and_keeps_invalid_pixels_out():
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 5.0, (96, 128)).astype(np.float32)
    depth[:, :20] = 0.0
    sample = Sample("x", bgr, depth)
    a = make_example(sample, 64, sample_rng(1, 2, 3))
    b = make_example(sample, 64, sample_rng(1, 2, 3))
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    image, target, mask = a
    assert image.shape == (3, 64, 64) and target.shape == mask.shape == (64, 64)
    assert np.all(target[~mask] == 0) and np.all(target[mask] > 0.19) and np.all(target[mask] < 2.01)
    assert not np.array_equal(make_example(sample, 64, sample_rng(1, 2, 4))[0], image)
