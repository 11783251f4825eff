"""Losses as plain functions and nn.Modules."""
from i2i_zoo.losses.adversarial import GANLoss, gradient_penalty, r1_penalty
from i2i_zoo.losses.classification import condition_regression_loss, domain_classification_loss
from i2i_zoo.losses.inherited import importance_weight, inherited_d_loss, inherited_g_loss, teacher_scores
from i2i_zoo.losses.mutual_info import (
    LumaThumbnail,
    MutualInformationLoss,
    TimmFeatures,
    info_nce,
    load_identity_encoder,
    mutual_information_loss,
)
from i2i_zoo.losses.perceptual import (
    PerceptualLoss,
    VGGFeatures,
    content_loss,
    gram_matrix,
    load_perceptual_loss,
    load_vgg_features,
    style_loss,
    vgg_layer_names,
)
from i2i_zoo.losses.regularizers import orthogonal_regularization, total_variation
from i2i_zoo.losses.spl import SpatialProfileLoss, profile_similarity, rgb_to_yuv

__all__ = [
    "GANLoss",
    "LumaThumbnail",
    "MutualInformationLoss",
    "PerceptualLoss",
    "SpatialProfileLoss",
    "TimmFeatures",
    "VGGFeatures",
    "condition_regression_loss",
    "content_loss",
    "domain_classification_loss",
    "gradient_penalty",
    "gram_matrix",
    "importance_weight",
    "info_nce",
    "inherited_d_loss",
    "inherited_g_loss",
    "load_identity_encoder",
    "load_perceptual_loss",
    "load_vgg_features",
    "mutual_information_loss",
    "orthogonal_regularization",
    "profile_similarity",
    "r1_penalty",
    "rgb_to_yuv",
    "style_loss",
    "teacher_scores",
    "total_variation",
    "vgg_layer_names",
]
