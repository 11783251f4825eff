"""GANimation's generator (Pumarola et al., ECCV 2018): the StarGAN generator body with two heads,
a colour image and an attention mask, composed so the mask keeps the input where nothing needs to
change. The discriminator is StarGAN's (`i2i_zoo.nets.stargan.StarGANDiscriminator`), whose
classification head regresses the conditions."""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from i2i_zoo.nets.stargan import StarGANTrunk


def compose(x: Tensor, colour: Tensor, attention: Tensor) -> Tensor:
    """The output image: `attention * x + (1 - attention) * colour` (attention 1 keeps the input pixel)."""
    return attention * x + (1 - attention) * colour


class GANimationGenerator(nn.Module):
    """`forward(x, c)` -> (colour (N, in_channels, H, W) in [-1, 1], attention (N, 1, H, W) in [0, 1]).

    The StarGAN trunk (the conditions `c` (N, c_dim) tiled over the image) with a 7x7 conv + tanh
    colour head and a 7x7 conv + sigmoid attention head, both without bias, as the original.
    Image sides must be multiples of `size_multiple`; `compose` makes the translated image.

    Args:
        in_channels: image channels.
        c_dim: number of conditions (17 action units in the paper).
        conv_dim: filters of the first layer.
        repeat_num: residual blocks at the bottleneck.
    """

    size_multiple = StarGANTrunk.size_multiple

    def __init__(self, in_channels: int = 3, c_dim: int = 17, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.c_dim = in_channels, in_channels, c_dim
        self.trunk = StarGANTrunk(in_channels, c_dim, conv_dim, repeat_num)
        self.colour = nn.Sequential(nn.Conv2d(conv_dim, in_channels, 7, padding=3, bias=False), nn.Tanh())
        self.attention = nn.Sequential(nn.Conv2d(conv_dim, 1, 7, padding=3, bias=False), nn.Sigmoid())

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        features = self.trunk(x, c)
        return self.colour(features), self.attention(features)


class GANimationTranslator(nn.Module):
    """A generator with its target conditions fixed: `forward(x)` -> the composed image, for export.

    Args:
        generator: the trained `GANimationGenerator`.
        target: the conditions (c_dim,) every image is translated to.
    """

    def __init__(self, generator: GANimationGenerator, target: Tensor) -> None:
        super().__init__()
        if target.shape != (generator.c_dim,):
            raise ValueError(f"target must hold {generator.c_dim} conditions, got shape {tuple(target.shape)}")
        self.generator = generator
        self.register_buffer("target", target.detach().clone())
        self.in_channels, self.out_channels = generator.in_channels, generator.out_channels
        self.size_multiple = generator.size_multiple

    def forward(self, x: Tensor) -> Tensor:
        colour, attention = self.generator(x, self.target.to(x.dtype).expand(x.shape[0], -1))
        return compose(x, colour, attention)
