"""The Spatial Profile Loss (Sarfraz et al., "Content and Colour Distillation for Learning Image
Translations with the Spatial Profile Loss", BMVC 2019).

Two images are compared through their spatial profiles: every row and every column of every
channel, each L2-normalised, so only the shape of a profile counts, not its scale. The gradient
profile (GP) compares one-pixel differences and carries content; the colour profile (CP) compares
RGB, YUV and the differences of YUV and carries colour and style.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# BT.601 luma and the analogue U, V scalings of the paper (applied to RGB in [0, 1]).
_Y = (0.299, 0.587, 0.114)
_U_SCALE, _V_SCALE = 0.493, 0.877


def profile_similarity(x: Tensor, y: Tensor, eps: float = 1e-8) -> Tensor:
    """The paper's Eq. 1 per sample: for each channel c,
    ``(1/H) trace(X_c Y_c^T) + (1/W) trace(X_c^T Y_c)`` with every row (first term) and column
    (second term) L2-normalised, i.e. the mean cosine similarity of corresponding rows plus that
    of corresponding columns, summed over channels. An all-zero profile contributes 0.

    Args:
        x, y: ``(N, C, H, W)`` tensors of the same shape.
        eps: norms below it are clamped (zero profiles stay zero instead of dividing by zero).

    Returns:
        ``(N,)`` similarities, each in ``[-2C, 2C]``.
    """
    if x.shape != y.shape:
        raise ValueError(f"spatial profiles need tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    rows = (F.normalize(x, dim=3, eps=eps) * F.normalize(y, dim=3, eps=eps)).sum(3).mean(2)
    columns = (F.normalize(x, dim=2, eps=eps) * F.normalize(y, dim=2, eps=eps)).sum(2).mean(2)
    return (rows + columns).sum(1)


def one_pixel_differences(images: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontal ``(N, C, H, W-1)`` and vertical ``(N, C, H-1, W)`` differences, no padding."""
    return images[..., :, 1:] - images[..., :, :-1], images[..., 1:, :] - images[..., :-1, :]


def rgb_to_yuv(rgb: Tensor) -> Tensor:
    """RGB in [0, 1] to YUV: Y = .299R + .587G + .114B, U = 0.493(B - Y), V = 0.877(R - Y)."""
    red, green, blue = rgb.unbind(1)
    luma = _Y[0] * red + _Y[1] * green + _Y[2] * blue
    return torch.stack([luma, _U_SCALE * (blue - luma), _V_SCALE * (red - luma)], 1)


class SpatialProfileLoss(nn.Module):
    """SPL = -(GP + CP) for images in [-1, 1] (mapped to [0, 1] first), averaged over the batch.

    GP is the profile similarity of the images' one-pixel differences, horizontal plus vertical,
    on their own channels (12 for identical RGB images). CP is the similarity on RGB, on YUV and
    on the one-pixel differences of YUV (24 for identical RGB images). The loss is computed in
    float32, also under autocast. A weight of 0 switches its term off.

    Args:
        gp_weight: weight of the gradient profile.
        rgb_weight: weight of the colour profile on RGB.
        yuv_weight: weight of the colour profile on YUV.
        yuv_gradient_weight: weight of the colour profile on the differences of YUV.
        eps: smallest profile norm (see :func:`profile_similarity`).
    """

    def __init__(
        self,
        gp_weight: float = 1.0,
        rgb_weight: float = 1.0,
        yuv_weight: float = 1.0,
        yuv_gradient_weight: float = 1.0,
        eps: float = 1e-8,
    ):
        super().__init__()
        self.gp_weight = gp_weight
        self.rgb_weight = rgb_weight
        self.yuv_weight = yuv_weight
        self.yuv_gradient_weight = yuv_gradient_weight
        self.eps = eps

    def _gradient_similarity(self, x: Tensor, y: Tensor) -> Tensor:
        (x_h, x_v), (y_h, y_v) = one_pixel_differences(x), one_pixel_differences(y)
        return profile_similarity(x_h, y_h, self.eps) + profile_similarity(x_v, y_v, self.eps)

    def gp(self, x: Tensor, y: Tensor) -> Tensor:
        """Weighted gradient-profile similarity of ``x`` to ``y`` (batch mean; higher is closer)."""
        if self.gp_weight == 0:
            return x.new_zeros((), dtype=torch.float32)
        x, y = _unit_range(x), _unit_range(y)
        return self.gp_weight * self._gradient_similarity(x, y).mean()

    def cp(self, x: Tensor, y: Tensor) -> Tensor:
        """Weighted colour-profile similarity of RGB images ``x`` to ``y`` (batch mean)."""
        x, y = _unit_range(x), _unit_range(y)
        similarity = x.new_zeros(x.shape[0])
        if self.rgb_weight:
            similarity = similarity + self.rgb_weight * profile_similarity(x, y, self.eps)
        if self.yuv_weight or self.yuv_gradient_weight:
            if x.shape[1] != 3:
                raise ValueError(
                    f"the colour profile on YUV needs RGB images, got {x.shape[1]} channels; "
                    "set yuv_weight and yuv_gradient_weight to 0 for other images"
                )
            x_yuv, y_yuv = rgb_to_yuv(x), rgb_to_yuv(y)
            if self.yuv_weight:
                similarity = similarity + self.yuv_weight * profile_similarity(x_yuv, y_yuv, self.eps)
            if self.yuv_gradient_weight:
                similarity = similarity + self.yuv_gradient_weight * self._gradient_similarity(x_yuv, y_yuv)
        return similarity.mean()

    def forward(self, x: Tensor, y: Tensor, cp_target: Tensor | None = None) -> Tensor:
        """-(GP(x, y) + CP(x, cp_target)); ``cp_target`` defaults to ``y``. Reference transfer
        takes content (GP) from the source and colour (CP) from the reference."""
        return -(self.gp(x, y) + self.cp(x, y if cp_target is None else cp_target))


def _unit_range(images: Tensor) -> Tensor:
    return (images.float() + 1) / 2
