"""ResNet generator of CycleGAN (Zhu et al., 2017), after Johnson et al. (2016).

Layer order and module names match the original implementation, so its checkpoints' keys
(`model.<i>...`, `conv_block.<j>...`) load unchanged.
"""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from i2i_zoo.nets.layers import conv_bias, get_norm_layer

PADDING_MODES = ("reflect", "replicate", "zero")


def _padded_conv3x3(channels: int, padding_mode: str, bias: bool) -> list[nn.Module]:
    if padding_mode == "zero":
        return [nn.Conv2d(channels, channels, 3, padding=1, bias=bias)]
    pad = nn.ReflectionPad2d(1) if padding_mode == "reflect" else nn.ReplicationPad2d(1)
    return [pad, nn.Conv2d(channels, channels, 3, bias=bias)]


class ResnetBlock(nn.Module):
    """Two 3x3 convs with a residual connection: x + conv_block(x)."""

    def __init__(self, channels: int, norm: str = "instance", use_dropout: bool = False,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Unknown padding_mode {padding_mode!r}; choose one of {', '.join(PADDING_MODES)}.")
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [*_padded_conv3x3(channels, padding_mode, bias), norm_layer(channels), nn.ReLU(inplace=True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*_padded_conv3x3(channels, padding_mode, bias), norm_layer(channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7x7 conv, two stride-2 downsamplings, `n_blocks` residual blocks, two upsamplings, 7x7 conv, tanh.

    Input sides must be multiples of `size_multiple` for the output to match the input size.
    With `final_tanh=False` the output is the last convolution's, for methods that add it to an
    image before squashing (SPL's `ReferenceTransfer`).
    """

    size_multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False, padding_mode: str = "reflect",
                 final_tanh: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        stem = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(inplace=True)]
        down: list[nn.Module] = []
        for ch in (ngf, 2 * ngf):
            down += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1, bias=bias), norm_layer(2 * ch), nn.ReLU(inplace=True)]
        blocks = [ResnetBlock(4 * ngf, norm, use_dropout, padding_mode) for _ in range(n_blocks)]
        up: list[nn.Module] = []
        for ch in (4 * ngf, 2 * ngf):
            up += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(ch // 2),
                nn.ReLU(inplace=True),
            ]
        head = [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7)] + ([nn.Tanh()] if final_tanh else [])
        self.model = nn.Sequential(*stem, *down, *blocks, *up, *head)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

