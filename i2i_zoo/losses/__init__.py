"""Losses as plain functions and nn.Modules."""
from i2i_zoo.losses.adversarial import GANLoss, gradient_penalty, r1_penalty

__all__ = ["GANLoss", "gradient_penalty", "r1_penalty"]
