"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", 2017), the other
super-resolution generator the SPL paper names beside SRGAN's.

Built as the authors' PyTorch code builds it, module for module, so its released state dicts load unchanged:
a 3x3 head conv; residual blocks of conv-ReLU-conv with no batch norm, the branch scaled by `res_scale` (0.1 in
the 256-feature model: the paper's fix for its unstable training) before the block input is added; a 3x3 conv closing
the long skip from the head; the upsampler (one conv to 4x the channels and PixelShuffle(2) per factor of two,
or one conv to 9x and PixelShuffle(3) for x3), with no activation; and a 3x3 output conv. The official model
works on [0, 255] images with the dataset's mean colour removed at the input and added back at the output.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

SCALES = (2, 3, 4, 8)
# The official models see pixel values in [0, rgb_range]; all released weights use 255.
RGB_RANGE = 255.0
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class MeanShift(nn.Module):
    """Adds `sign * RGB_RANGE * mean` to each channel.

    The official code does this with a frozen 1x1 conv (identity weight), so its state dicts hold
    `weight` and `bias` here; they are buffers, saved and loaded under those names but never trained.
    """

    def __init__(self, mean: tuple[float, ...], sign: int) -> None:
        super().__init__()
        channels = len(mean)
        self.register_buffer("weight", torch.eye(channels).view(channels, channels, 1, 1))
        self.register_buffer("bias", sign * RGB_RANGE * torch.tensor(mean, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias)


class EDSRResidualBlock(nn.Module):
    """conv3x3-ReLU-conv3x3, scaled by `res_scale`, plus the block input."""

    def __init__(self, channels: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.body(x)


def _upsampler(num_features: int, scale: int) -> nn.Sequential:
    # Conv to factor**2 times the channels, which PixelShuffle rearranges into factor x factor neighbourhoods.
    factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    layers: list[nn.Module] = []
    for factor in factors:
        layers += [_conv(num_features, factor * factor * num_features), nn.PixelShuffle(factor)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """Upscales by `scale` (2, 3, 4 or 8): `(N, in_channels, H, W)` -> `(N, out_channels, scale*H, scale*W)`.

    The defaults are EDSR-baseline (64 features, 16 blocks, res_scale 1); the paper's EDSR is
    `num_features=256, num_blocks=32, res_scale=0.1`. Inputs are in [-1, 1], the package's range, and mapped
    to the official [0, 255] inside, as the output is mapped back, so released weights keep their meaning.
    The output is linear (no tanh, as in EDSR), so it may leave [-1, 1]. `rgb_mean` (DIV2K's by default, as
    the official code) is one value per channel, in [0, 1]. Convs keep PyTorch's default initialisation, as the
    official code.
    """

    size_multiple = 1

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_features: int = 64,
                 num_blocks: int = 16, res_scale: float = 1.0, rgb_mean: tuple[float, ...] = DIV2K_MEAN) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"EDSR upscales by 2, 3, 4 or 8: scale (model.scale) must be one of "
                             f"{', '.join(map(str, SCALES))}, got {scale!r}.")
        if not in_channels == out_channels == len(rgb_mean):
            raise ValueError(f"EDSR removes and restores one mean value per channel: rgb_mean has {len(rgb_mean)} "
                             f"values for {in_channels} input and {out_channels} output channels.")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        # Registered in the official order, so state_dict() lists the keys as a released file does.
        self.sub_mean = MeanShift(rgb_mean, sign=-1)
        self.add_mean = MeanShift(rgb_mean, sign=1)
        self.head = nn.Sequential(_conv(in_channels, num_features))
        self.body = nn.Sequential(
            *(EDSRResidualBlock(num_features, res_scale) for _ in range(num_blocks)),
            _conv(num_features, num_features),
        )
        self.tail = nn.Sequential(_upsampler(num_features, scale), _conv(num_features, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        x = self.sub_mean((x + 1) * (RGB_RANGE / 2))
        features = self.head(x)
        x = self.add_mean(self.tail(features + self.body(features)))
        return x * (2 / RGB_RANGE) - 1
