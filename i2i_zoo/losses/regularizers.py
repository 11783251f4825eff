"""Regularizers: on a network's outputs (total variation) and on its weights (BigGAN's
orthogonal regularisation)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

TV_REDUCTIONS = ("sum", "mean")


def total_variation(x: Tensor, power: float = 1.0, reduction: str = "sum") -> Tensor:
    """Total variation over the last two dimensions of `x`: |differences| ** `power` of
    horizontally and vertically adjacent values, in float32.

    `reduction="sum"` adds every difference term of both directions (GANimation's mask
    smoothness: power 1, sum, as its original code rather than the paper's squared differences);
    `"mean"` averages each direction over its own elements and adds the two means, so the value
    does not grow with batch, channels or image size (a direction with no adjacent pairs, a side
    of 1, contributes 0). A `power` below 1 has an infinite slope where neighbours are equal,
    which makes their gradient NaN.
    """
    if not power > 0:
        raise ValueError(f"total_variation needs power > 0, got {power}")
    if reduction not in TV_REDUCTIONS:
        raise ValueError(f"total_variation's reduction {reduction!r} is unknown; choose one of {TV_REDUCTIONS}")
    if x.dim() < 2:
        raise ValueError(f"total_variation needs at least 2 dimensions (height, width), got shape {tuple(x.shape)}")
    x = x.float()
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).abs()
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs()
    # Power 1 skips pow, so the default is the plain sum of |differences|, op for op.
    if power != 1:
        horizontal, vertical = horizontal.pow(power), vertical.pow(power)
    if reduction == "sum":
        return horizontal.sum() + vertical.sum()
    return _mean_or_zero(horizontal) + _mean_or_zero(vertical)


def _mean_or_zero(differences: Tensor) -> Tensor:
    return differences.mean() if differences.numel() else differences.sum()


def orthogonal_regularization(parameters: Iterable[Tensor], exclude: Iterable[Tensor] = ()) -> Tensor:
    """BigGAN's modified orthogonal regularisation (Brock et al., 2019, eq. 3), in float32:
    0.5 * sum over the weights W with at least 2 dimensions (viewed as (out, -1)), those in
    `exclude` aside, of ||W W^T * (1 - I)||_F^2. Only the off-diagonal inner products of the
    filters are pushed to 0, not their norms.

    The 0.5 makes its gradient 2 (W W^T * (1 - I)) W, the gradient that BigGAN-PyTorch's
    `utils.ortho` adds to each weight's gradient directly, so a weight `strength` on this loss is
    the reference's G_ortho / D_ortho. Returns a 0-dim tensor (0 when no weight qualifies)."""
    skipped = {id(p) for p in exclude}
    total: Tensor | None = None
    for p in parameters:
        if p.dim() < 2 or id(p) in skipped:
            continue
        w = p.float().reshape(p.shape[0], -1)
        gram = w @ w.T
        off_diagonal = gram - torch.diag_embed(torch.diagonal(gram))
        term = 0.5 * off_diagonal.square().sum()
        total = term if total is None else total + term
    return torch.zeros(()) if total is None else total
