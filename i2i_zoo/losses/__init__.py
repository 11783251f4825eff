"""Losses as plain functions and nn.Modules."""
from i2i_zoo.losses.adversarial import GANLoss, gradient_penalty, r1_penalty
from i2i_zoo.losses.spl import SpatialProfileLoss, profile_similarity, rgb_to_yuv

__all__ = ["GANLoss", "SpatialProfileLoss", "gradient_penalty", "profile_similarity", "r1_penalty", "rgb_to_yuv"]
