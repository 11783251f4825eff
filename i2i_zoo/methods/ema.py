"""Exponential moving averages of a network's weights (BigGAN's G_ema, Karras et al.'s
generator averaging): an average of the recent weights generates better than the last ones."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(network: nn.Module) -> nn.Module:
    """A copy of `network` that takes no gradient, to be updated by `update_ema`."""
    return copy.deepcopy(network).requires_grad_(False)


@torch.no_grad()
def update_ema(average: nn.Module, network: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * network, for the parameters and the
    floating-point buffers (batch-norm statistics); other buffers (counters) are copied.
    `decay` 0 copies the weights."""
    averaged = list(average.parameters()) + [b for b in average.buffers() if b.is_floating_point()]
    current = list(network.parameters()) + [b for b in network.buffers() if b.is_floating_point()]
    if len(averaged) != len(current):
        raise ValueError("the EMA copy and its network have different parameters")
    if decay == 0:
        torch._foreach_copy_(averaged, current)
    else:
        torch._foreach_lerp_(averaged, current, 1.0 - decay)
    for mine, theirs in zip(average.buffers(), network.buffers()):
        if not mine.is_floating_point():
            mine.copy_(theirs)
