"""Losses of an auxiliary head that recognises an image's domain, attributes or conditions
(StarGAN's and GANimation's discriminators), computed in float32."""
from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

# exclusive: one domain per image, labels are class indices (N,); attributes: any number per
# image, labels are 0/1 vectors (N, K).
LABEL_TYPES = ("attributes", "exclusive")
LabelType = Literal[LABEL_TYPES]


def domain_classification_loss(logits: Tensor, labels: Tensor, label_type: str) -> Tensor:
    """StarGAN's classification loss on (N, K) logits: cross-entropy against class indices for
    exclusive domains; for attributes, binary cross-entropy summed over the K attributes and
    averaged over the batch (the original's, so each attribute weighs as one exclusive domain
    would rather than 1/K of it)."""
    if label_type not in LABEL_TYPES:
        raise ValueError(f"label_type={label_type!r} is unknown; choose one of {LABEL_TYPES}")
    logits = logits.float()
    if label_type == "exclusive":
        return F.cross_entropy(logits, labels)
    return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="sum") / len(logits)


def condition_regression_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """GANimation's regression of (N, C) continuous conditions (action-unit intensities): the mean
    squared error divided by the batch size once more, as the original code does (not the paper's
    squared L2 norm), so the original's lambda_D_cond of 4000 keeps its meaning."""
    return F.mse_loss(predicted.float(), target.float()) / len(target)
