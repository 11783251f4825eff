"""The hidden truth of the ``tints`` and ``levels`` demos: the factor each image was made with
(its tint, its brightness) and a measure of that factor on any image, so tests can check what a
translation did.

Torch only, as the measures score model outputs (``(N, 3, H, W)`` in [-1, 1]).
"""

from __future__ import annotations

import torch

# Domain name -> tint colour (RGB in [0, 1]), in the order of the domain indices.
TINTS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.25, 0.25),
    "green": (0.25, 0.85, 0.25),
    "blue": (0.25, 0.45, 1.0),
    "yellow": (0.95, 0.85, 0.2),
}
TINT_STRENGTH = 0.6
LUMA = (0.299, 0.587, 0.114)  # Rec. 601

BRIGHTNESS_RANGE = (0.2, 1.0)
# The 90th percentile of the luma of the unscaled shapes photos, averaged over the 440 the
# levels dataset is made from (it varies by about 2.5% from photo to photo).
BRIGHTNESS_REFERENCE = 0.840
BRIGHTNESS_QUANTILE = 0.9


def _check_images(images: torch.Tensor, name: str) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} takes RGB images (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")


def tint_scores(images: torch.Tensor) -> torch.Tensor:
    """How strongly each image ``(N, 3, H, W)`` in [-1, 1] shows each tint of :data:`TINTS`:
    ``(N, len(TINTS))``, the image's mean colour minus its gray (the channel mean) projected on
    each tint's colour minus its gray, normalised to length 1.

    The argmax recovers the tint of every ``tints`` image of the default seed (the 400 train
    and 160 test images, also after area downscaling to 32 px); a gray image scores 0 for
    every tint."""
    _check_images(images, "tint_scores")
    mean = (images.float().mean((2, 3)) + 1) / 2
    tints = torch.tensor(list(TINTS.values()), device=images.device)
    tints = tints - tints.mean(1, keepdim=True)
    directions = tints / tints.norm(dim=1, keepdim=True)
    return (mean - mean.mean(1, keepdim=True)) @ directions.T


def brightness_of(images: torch.Tensor) -> torch.Tensor:
    """Estimate the ``levels`` brightness of images ``(N, 3, H, W)`` in [-1, 1]: the 90th
    percentile of their luma (Rec. 601) in [0, 1], divided by that of an unscaled photo
    (:data:`BRIGHTNESS_REFERENCE`). ``(N,)``.

    On the 440 ``levels`` images of the default seed (brightness 0.2-1.0) the absolute error
    is 0.012 on average (2% of the brightness) and at most 0.062; after area downscaling to
    32 px, 0.011 and 0.070."""
    _check_images(images, "brightness_of")
    luma = torch.tensor(LUMA, device=images.device)
    gray = torch.einsum("nchw,c->nhw", (images.float() + 1) / 2, luma)
    return torch.quantile(gray.flatten(1), BRIGHTNESS_QUANTILE, dim=1) / BRIGHTNESS_REFERENCE
