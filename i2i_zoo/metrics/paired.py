"""Paired image-quality metrics between translated images and aligned ground truth.

PSNR, SSIM, MS-SSIM and LPIPS, built on torchmetrics so their states sync across DDP ranks.
PSNR, SSIM and MS-SSIM take images in [0, 1] as prepared by `paired_inputs`; LPIPS takes the
package's [-1, 1] images directly.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.functional.image.lpips import _NoTrainLpips
from torchmetrics.image import MultiScaleStructuralSimilarityIndexMeasure, PeakSignalNoiseRatio

from i2i_zoo.weights import hub_checkpoints, read_state_dict, resolve_weights

PAIRED_METRICS = ("psnr", "ssim", "ms_ssim", "lpips")

# ITU-R BT.601 luma as MATLAB's rgb2ycbcr computes it for RGB in [0, 1]: Y in [16, 235] / 255.
_Y_OFFSET = 16.0
_Y_WEIGHTS = (65.481, 128.553, 24.966)

# Wang et al. (2004): Gaussian window of 11 taps, sigma 1.5.
_SSIM_SIGMA = 1.5
_SSIM_KERNEL = 11
_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# The smallest window MS-SSIM shrinks to on tiny images.
_MIN_KERNEL = 3

LPIPS_BACKBONE_ENV = "I2I_ZOO_LPIPS_BACKBONE"
# LPIPS net type -> torchvision architecture of its backbone and the ImageNet weights torchmetrics uses.
_LPIPS_BACKBONES = {
    "alex": ("alexnet", torchvision.models.AlexNet_Weights.DEFAULT),
    "vgg": ("vgg16", torchvision.models.VGG16_Weights.DEFAULT),
    "squeeze": ("squeezenet1_1", torchvision.models.SqueezeNet1_1_Weights.DEFAULT),
}


def paired_inputs(
    fake: Tensor, target: Tensor, y_channel: bool = False, border: int = 0
) -> tuple[Tensor, Tensor]:
    """Prepare [-1, 1] N x C x H x W images (C = 1 or 3) for PSNR / SSIM / MS-SSIM.

    Maps both to [0, 1] (clamped, at least float32). With `y_channel` (the super-resolution
    convention) 3-channel images become the BT.601 luma of MATLAB's `rgb2ycbcr`,
    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255; 1-channel images are kept as they are.
    `border` pixels (usually the SR scale factor) are cropped from every side.
    """
    _check_pair(fake, target)
    height, width = fake.shape[-2:]
    if border < 0 or 2 * border >= min(height, width):
        raise ValueError(f"A border of {border} px leaves no pixels of {height} x {width} images.")
    # Half-precision outputs are promoted so the metrics do not depend on the training precision.
    dtype = torch.promote_types(torch.promote_types(fake.dtype, target.dtype), torch.float32)
    images = [((image.to(dtype) + 1) / 2).clamp(0, 1) for image in (fake, target)]
    if y_channel and fake.shape[1] == 3:
        weights = torch.tensor(_Y_WEIGHTS, dtype=dtype, device=fake.device).view(1, 3, 1, 1)
        images = [(_Y_OFFSET + (image * weights).sum(dim=1, keepdim=True)) / 255 for image in images]
    if border:
        images = [image[..., border:height - border, border:width - border] for image in images]
    return images[0], images[1]


def _check_pair(fake: Tensor, target: Tensor) -> None:
    if fake.shape != target.shape:
        raise ValueError(f"fake and target shapes differ: {tuple(fake.shape)} vs {tuple(target.shape)}.")
    if fake.dim() != 4 or fake.shape[1] not in (1, 3):
        raise ValueError(f"Expected N x C x H x W images with C = 1 or 3, got shape {tuple(fake.shape)}.")


def psnr_metric() -> PeakSignalNoiseRatio:
    """PSNR of [0, 1] images, computed per image and averaged over images (not PSNR of the pooled MSE)."""
    return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3), reduction="elementwise_mean")


class SSIMMetric(Metric):
    """SSIM (Wang et al., 2004) of [0, 1] images, averaged over images.

    Gaussian window of 11 taps with sigma 1.5, K1 = 0.01, K2 = 0.03; each image's SSIM map is
    averaged over the window positions that lie fully inside the image (channels included), as in
    Wang's reference code and skimage's `structural_similarity`. torchmetrics'
    `StructuralSimilarityIndexMeasure` also averages the reflect-padded border, which moves the
    score by up to a few hundredths on small images. Images need sides of at least 11 px.
    """

    higher_is_better = True
    full_state_update = False
    is_differentiable = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("score_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, fake: Tensor, target: Tensor) -> None:
        """Add the SSIM of each image pair of the batch."""
        if min(fake.shape[-2:]) < _SSIM_KERNEL:
            raise ValueError(f"SSIM needs sides of at least {_SSIM_KERNEL} px, got shape {tuple(fake.shape)}.")
        _, ssim_map = structural_similarity_index_measure(
            fake, target, sigma=_SSIM_SIGMA, data_range=1.0, return_full_image=True
        )
        pad = (_SSIM_KERNEL - 1) // 2
        per_image = ssim_map[..., pad:-pad, pad:-pad].mean(dim=(1, 2, 3))
        self.score_sum += per_image.sum().to(self.score_sum.dtype)
        self.total += per_image.numel()

    def compute(self) -> Tensor:
        """Mean SSIM over all images seen."""
        return self.score_sum / self.total


def ssim_metric() -> SSIMMetric:
    """SSIM of [0, 1] images with Wang et al.'s Gaussian window, averaged over images."""
    return SSIMMetric()


def ms_ssim_settings(height: int, width: int) -> tuple[int, tuple[float, ...]]:
    """Kernel size and betas for MS-SSIM on `height` x `width` images.

    The standard setting (Wang et al., 2003) is kernel 11 with 5 scales and betas
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). With the shorter side s, n scales and kernel k,
    torchmetrics accepts the images only if s >= 2 ** n and s // max(1, n - 1) ** 2 > k - 1, and
    runs only if every scale but the coarsest keeps at least k px (s // 2 ** i) and the coarsest
    keeps more than (k - 1) / 2 px (its reflect padding). With kernel 11 that needs s >= 176 for
    5 scales, 99 for 4, 44 for 3, 12 for 2 and 11 for 1.

    Rule: keep kernel 11 and the finest scales that fit, dropping the coarsest, with the kept betas
    renormalised to sum to 1. Below 11 px a single scale (plain SSIM) is used with the largest odd
    kernel that fits the side (9 for 9-10 px, ..., 3 for 3-4 px). Sides under 3 px raise ValueError.
    """
    side = min(height, width)
    if _ms_ssim_fits(side, len(_MS_SSIM_BETAS), _SSIM_KERNEL):
        return _SSIM_KERNEL, _MS_SSIM_BETAS
    for scales in range(len(_MS_SSIM_BETAS) - 1, 0, -1):
        if _ms_ssim_fits(side, scales, _SSIM_KERNEL):
            kept_sum = sum(_MS_SSIM_BETAS[:scales])
            return _SSIM_KERNEL, tuple(beta / kept_sum for beta in _MS_SSIM_BETAS[:scales])
    if side < _MIN_KERNEL:
        raise ValueError(
            f"MS-SSIM needs images of at least {_MIN_KERNEL} x {_MIN_KERNEL} px, got {height} x {width}."
        )
    return side - (1 - side % 2), (1.0,)


def _ms_ssim_fits(side: int, scales: int, kernel_size: int) -> bool:
    accepted = side >= 2**scales and side // max(1, scales - 1) ** 2 > kernel_size - 1
    sides = [side // 2**scale for scale in range(scales)]
    # torchmetrics averages a finer scale's contrast term over full windows only (NaN when there are
    # none) and reflect-pads the coarsest scale, which needs more pixels than the padding.
    runs = all(finer >= kernel_size for finer in sides[:-1]) and sides[-1] > (kernel_size - 1) // 2
    return accepted and runs


def ms_ssim_metric(height: int, width: int) -> MultiScaleStructuralSimilarityIndexMeasure:
    """MS-SSIM of [0, 1] `height` x `width` images with the settings of `ms_ssim_settings`."""
    kernel_size, betas = ms_ssim_settings(height, width)
    # torchmetrics sizes a Gaussian window from sigma alone (2 * int(3.5 * sigma + 0.5) + 1 taps) and
    # uses kernel_size only in its size check, so sigma shrinks with the kernel: 1.5 for 11 taps.
    sigma = _SSIM_SIGMA * kernel_size / _SSIM_KERNEL
    # The default normalize="relu" clamps negative per-scale terms to 0 before they are raised to
    # fractional betas; kept so anti-correlated images (early training) score 0 instead of NaN.
    return MultiScaleStructuralSimilarityIndexMeasure(
        data_range=1.0, kernel_size=kernel_size, sigma=sigma, betas=betas
    )


def load_lpips_network(net_type: str = "alex", backbone_weights: str | None = None) -> nn.Module:
    """The LPIPS network of torchmetrics with its ImageNet backbone loaded from a local file.

    torchmetrics ships the learned linear layers but downloads the torchvision backbone; here the
    backbone's torchvision state dict (`features.0.weight`, ...) is read from, in order: the
    `backbone_weights` path, the `I2I_ZOO_LPIPS_BACKBONE` environment variable, or torchvision's
    file in torch hub's cache (e.g. `<hub dir>/checkpoints/alexnet-owt-7be5be79.pth`). A path
    given by the argument or the variable must exist. Raises FileNotFoundError when no file is
    found (never falls back to random weights) and ValueError when the file does not fit.
    """
    if net_type not in _LPIPS_BACKBONES:
        raise ValueError(f"Unknown LPIPS net type {net_type!r}; choose one of {', '.join(_LPIPS_BACKBONES)}.")
    what = f"LPIPS ({net_type}) backbone weights"
    url = _LPIPS_BACKBONES[net_type][1].url
    cached = hub_checkpoints() / url.rsplit("/", 1)[-1]
    path = resolve_weights(
        backbone_weights, option="backbone_weights", env=LPIPS_BACKBONE_ENV, candidates=[cached], what=what, urls={cached: url}
    )
    # pnet_rand builds the backbone without downloading; the linear layers load from torchmetrics.
    network = _NoTrainLpips(net=net_type, pnet_rand=True)
    _load_backbone(network.net, net_type, read_state_dict(path, what), path)
    return network


def _load_backbone(backbone: nn.Module, net_type: str, state: dict[str, Tensor], path: Path) -> None:
    slices = (
        list(backbone.slices)
        if net_type == "squeeze"
        else [getattr(backbone, f"slice{index}") for index in range(1, backbone.N_slices + 1)]
    )
    # The slices hold torchvision's `features` modules under their indices; this view shares them.
    features = nn.Module()
    for slice_ in slices:
        for index, module in slice_.named_children():
            features.add_module(index, module)
    prefix = "features."
    feature_state = {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
    try:
        features.load_state_dict(feature_state, strict=True)
    except RuntimeError as error:
        architecture = _LPIPS_BACKBONES[net_type][0]
        raise ValueError(
            f"LPIPS backbone weights {path} do not fit a torchvision {architecture} state dict: {error}"
        ) from error


class LPIPSMetric(Metric):
    """Mean LPIPS distance (Zhang et al., 2018) between [-1, 1] images; gray images are repeated to RGB.

    `network` comes from `load_lpips_network`; loaded once, it can be shared by several metrics. It
    runs in float32 with autocast off.
    """

    higher_is_better = False
    full_state_update = False
    is_differentiable = False

    def __init__(self, network: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net = network
        self.add_state("score_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, fake: Tensor, target: Tensor) -> None:
        """Add the LPIPS distance of each image pair of the batch."""
        _check_pair(fake, target)
        fake, target = (image.float().clamp(-1, 1).expand(-1, 3, -1, -1) for image in (fake, target))
        with torch.no_grad(), torch.autocast(device_type=fake.device.type, enabled=False):
            distances = self.net(fake, target).flatten()
        self.score_sum += distances.sum()
        self.total += distances.numel()

    def compute(self) -> Tensor:
        """Mean LPIPS distance over all images seen."""
        return self.score_sum / self.total
