"""Adversarial losses and the gradient penalties that regularize their discriminators."""
from __future__ import annotations

from typing import Callable, Literal, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

Prediction = Union[Tensor, Sequence[Tensor]]

# mode -> (d_real, d_fake, g), each mapping a float32 prediction to its per-element loss.
_LOSSES: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "vanilla": (lambda x: F.softplus(-x), F.softplus, lambda x: F.softplus(-x)),
    "lsgan": (lambda x: (x - 1) ** 2, lambda x: x**2, lambda x: (x - 1) ** 2),
    "wgan": (lambda x: -x, lambda x: x, lambda x: -x),
    "hinge": (lambda x: F.relu(1 - x), lambda x: F.relu(1 + x), lambda x: -x),
}
_ALIASES = {"softplus": "vanilla"}
GAN_MODES = (*_LOSSES, *_ALIASES)
GanMode = Literal[GAN_MODES]


class GANLoss(nn.Module):
    """Discriminator and generator losses of one GAN objective, on raw discriminator outputs.

    Modes: `vanilla` (alias `softplus`; the non-saturating loss of Goodfellow et al.), `lsgan`,
    `wgan`, `hinge`. Each term is a mean over all elements; a list of predictions (multi-scale
    discriminators) gives the average of the per-prediction losses. Computed in float32.
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"Unknown GAN loss mode {mode!r}; choose one of {', '.join(GAN_MODES)}.")
        # Only the name is stored, so the module pickles (the loss functions are lambdas).
        self.mode = _ALIASES.get(mode, mode)

    def d_real(self, pred: Prediction) -> Tensor:
        """Discriminator loss on its predictions for real images."""
        return _mean_loss(_LOSSES[self.mode][0], pred)

    def d_fake(self, pred: Prediction) -> Tensor:
        """Discriminator loss on its predictions for generated images."""
        return _mean_loss(_LOSSES[self.mode][1], pred)

    def g(self, pred: Prediction) -> Tensor:
        """Generator loss on the discriminator's predictions for generated images."""
        return _mean_loss(_LOSSES[self.mode][2], pred)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def _mean_loss(loss: Callable[[Tensor], Tensor], pred: Prediction) -> Tensor:
    preds = [pred] if isinstance(pred, Tensor) else list(pred)
    if not preds:
        raise ValueError("Expected a tensor or a non-empty list of tensors.")
    return torch.stack([loss(p.float()).mean() for p in preds]).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al., 2017): batch mean of (||grad critic(x_hat)||_2 - 1)^2 at
    random interpolates x_hat of real and fake samples; not multiplied by lambda.

    Runs in float32 with autocast off; differentiable w.r.t. the critic's parameters.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        real, fake = real.detach().float(), fake.detach().float()
        alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
        x_hat = torch.lerp(fake, real, alpha).requires_grad_(True)
        grad = _input_grad(critic, x_hat)
        return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 penalty (Mescheder et al., 2018): batch mean of ||grad critic(real)||^2; not multiplied
    by gamma / 2.

    Runs in float32 with autocast off; differentiable w.r.t. the critic's parameters.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        x = real.detach().float().requires_grad_(True)
        grad = _input_grad(critic, x)
        return grad.flatten(1).pow(2).sum(dim=1).mean()


def _input_grad(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    # The summed scores give each sample's own gradient when samples do not interact (no batch
    # norm); create_graph lets the penalty reach the critic's parameters.
    (grad,) = torch.autograd.grad(critic(x).float().sum(), x, create_graph=True)
    return grad
