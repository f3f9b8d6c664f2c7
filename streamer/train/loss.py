"""MiDaS's scale-and-shift-invariant loss on inverse depth with its multi-scale gradient-matching term (torch).

We follow the MiDaS authors' published `ScaleAndShiftInvariantLoss` (Ranftl et al., TPAMI 2020; the loss.py they
released, also what ZoeDepth/DPT fine-tunes use): per image, the closed-form least-squares scale and shift align
the prediction to the ground-truth inverse depth over the valid pixels (the "ssimse" variant, not the trimmed
median/MAD one); the data term is the masked MSE of the aligned residual with batch-based reduction
(sum over the batch / (2 * valid pixels)); the regulariser is the gradient-matching term on that residual at 4
scales (strides 1, 2, 4, 8), weighted alpha = 0.5. Gradients flow through the alignment, as in MiDaS.
"""
from __future__ import annotations

import torch

ALPHA = 0.5
SCALES = 4


def compute_scale_and_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    """Per-image (scale, shift) of shape (N,), minimising sum(mask * (scale * pred + shift - target)^2).

    Computed on masked means (centred), which keeps float32 accurate for raw outputs in the thousands; a
    degenerate image (constant prediction or < 2 valid pixels) gets scale 0 and shift = mean target.
    """
    m = mask.to(pred.dtype)
    n = m.sum((1, 2)).clamp_min(1.0)
    p_mean = (m * pred).sum((1, 2)) / n
    y_mean = (m * target).sum((1, 2)) / n
    pc = (pred - p_mean[:, None, None]) * m
    yc = (target - y_mean[:, None, None]) * m
    var = (pc * pc).sum((1, 2))
    cov = (pc * yc).sum((1, 2))
    ok = var > 1e-12 * n * p_mean.detach().square().clamp_min(1.0)
    scale = torch.where(ok, cov / torch.where(ok, var, torch.ones_like(var)), torch.zeros_like(var))
    return scale, y_mean - scale * p_mean


def _batch_reduce(image_loss: torch.Tensor, divisor: torch.Tensor) -> torch.Tensor:
    total = divisor.sum()
    return image_loss.sum() / total if total > 0 else image_loss.sum() * 0.0


def mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(pred.dtype)
    res = pred - target
    return _batch_reduce((m * res * res).sum((1, 2)), 2 * m.sum((1, 2)))


def gradient_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of |d/dx| and |d/dy| of the masked residual, where both neighbours are valid, per valid pixel."""
    m = mask.to(pred.dtype)
    diff = m * (pred - target)
    grad_x = (diff[:, :, 1:] - diff[:, :, :-1]).abs() * (m[:, :, 1:] * m[:, :, :-1])
    grad_y = (diff[:, 1:, :] - diff[:, :-1, :]).abs() * (m[:, 1:, :] * m[:, :-1, :])
    return _batch_reduce(grad_x.sum((1, 2)) + grad_y.sum((1, 2)), m.sum((1, 2)))


def multiscale_gradient_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                             scales: int = SCALES) -> torch.Tensor:
    total = pred.new_zeros(())
    for scale in range(scales):
        step = 2 ** scale  # subsampling (not pooling) as in MiDaS: the residual's edges stay sharp at every scale
        total = total + gradient_loss(pred[:, ::step, ::step], target[:, ::step, ::step], mask[:, ::step, ::step])
    return total


def ssi_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, alpha: float = ALPHA,
             scales: int = SCALES) -> torch.Tensor:
    """pred: N x H x W raw network output; target: N x H x W inverse depth (1/m, 0 where invalid); mask: bool."""
    scale, shift = compute_scale_and_shift(pred, target, mask)
    aligned = scale[:, None, None] * pred + shift[:, None, None]
    loss = mse_loss(aligned, target, mask)
    if alpha > 0:
        loss = loss + alpha * multiscale_gradient_loss(aligned, target, mask, scales)
    return loss
