"""Losses as plain functions and nn.Modules."""
from i2i_zoo.losses.adversarial import GANLoss, gradient_penalty, r1_penalty
from i2i_zoo.losses.classification import condition_regression_loss, domain_classification_loss
from i2i_zoo.losses.regularizers import orthogonal_regularization, total_variation
from i2i_zoo.losses.spl import SpatialProfileLoss, profile_similarity, rgb_to_yuv

__all__ = [
    "GANLoss",
    "SpatialProfileLoss",
    "condition_regression_loss",
    "domain_classification_loss",
    "gradient_penalty",
    "orthogonal_regularization",
    "profile_similarity",
    "r1_penalty",
    "rgb_to_yuv",
    "total_variation",
]
