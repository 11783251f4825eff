"""BiL-GAN's networks (Cao et al., "Biphasic Learning of GANs for High-Resolution Image-to-Image
Translation", 2019): G1 and its discriminator T are StarGAN's (nets/stargan.py), G2 an SRResNet
(nets/srresnet.py); here the 3DMM UV regressor D^uv and the translators that chain them. No code
was published and the paper's layer details (its Appendix B) are unavailable: the choices are ours
and documented in docs/methods/bilgan.md."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from i2i_zoo.nets.srresnet import SRResNet
from i2i_zoo.nets.stargan import StarGANGenerator


def downsample(images: Tensor, factor: int) -> Tensor:
    """Area downsampling by an integer factor (the mean of each factor x factor block)."""
    return images if factor == 1 else F.avg_pool2d(images, factor)


class UVRegressor(nn.Module):
    """D^uv: a face's 3DMM UV map from its image: StarGAN's discriminator trunk (`repeat_num`
    stride-2 4x4 convs, LeakyReLU 0.01, channels doubling) and a 3x3 conv to `uv_channels`, a map
    at image_size / 2**repeat_num, compared with the true UV map area-downsampled to that size."""

    def __init__(self, in_channels: int = 3, uv_channels: int = 3, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, conv_dim, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, 2 * dim, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim *= 2
        layers.append(nn.Conv2d(dim, uv_channels, 3, padding=1))
        self.model = nn.Sequential(*layers)
        self.factor = 2**repeat_num

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images)

    def target(self, uv: Tensor) -> Tensor:
        """The true UV map at the regressor's output size."""
        return downsample(uv, self.factor)


class LowResolutionTranslator(nn.Module):
    """Phase 1's translation of full-resolution images: G1 on them area-downsampled by `factor`."""

    def __init__(self, G1: StarGANGenerator, factor: int) -> None:
        super().__init__()
        self.G1, self.factor = G1, factor
        self.in_channels, self.c_dim = G1.in_channels, G1.c_dim
        self.size_multiple = factor * G1.size_multiple

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.G1(downsample(x, self.factor), c)


class HighResolutionTranslator(LowResolutionTranslator):
    """Phase 2's G = G1 + G2: G1's low-resolution translation, upsampled bilinearly to the input's
    size, plus G2's residual of it (clipped to [-1, 1]). With G2's last conv at zero, as BiL-GAN
    starts it, the switch begins from phase 1's translation and G2 learns only the detail."""

    def __init__(self, G1: StarGANGenerator, G2: SRResNet, factor: int) -> None:
        super().__init__(G1, factor)
        self.G2 = G2

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        low = super().forward(x, c)
        upsampled = F.interpolate(low, scale_factor=self.factor, mode="bilinear", align_corners=False)
        return (upsampled + self.G2(low)).clamp(-1, 1)
