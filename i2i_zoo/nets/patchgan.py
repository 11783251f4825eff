"""PatchGAN discriminator of pix2pix/CycleGAN (Isola et al., 2017).

Layer order matches the original implementation, so its checkpoints' keys (`model.<i>...`)
load unchanged.
"""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from i2i_zoo.nets.layers import conv_bias, get_norm_layer


class PatchGANDiscriminator(nn.Module):
    """Fully convolutional discriminator with one raw logit per overlapping patch.

    `n_layers` stride-2 4x4 convs (the first without norm), one stride-1 conv, then a 1-channel
    conv; filters double from `ndf` up to 8 * ndf. `n_layers=3` gives 70x70 patches and a
    30x30 map for a 256x256 input.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        channels = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(channels, out, 4, stride=stride, padding=1, bias=bias), norm_layer(out),
                       nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
