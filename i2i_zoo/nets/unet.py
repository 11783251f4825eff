"""U-Net generator of pix2pix (Isola et al., 2017).

Built recursively from the outermost block inward as in the original implementation, so its
checkpoints' keys (`model.model.1.model.3...`) load unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from i2i_zoo.nets.layers import conv_bias, get_norm_layer


class UnetSkipBlock(nn.Module):
    """Downsample by 2, run `submodule`, upsample by 2; all but the outermost block concatenate
    their input to their output (the skip connection).

    The innermost block (no `submodule`) has no norm after its downsampling conv; the outermost
    has neither norm nor skip and ends in tanh.
    """

    def __init__(self, outer_channels: int, inner_channels: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, norm: str = "batch",
                 use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        in_channels = outer_channels if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        # Not in place: the block's input is also its skip connection.
        down_act = nn.LeakyReLU(0.2)
        up_act = nn.ReLU(inplace=True)
        layers: list[nn.Module]
        if outermost:
            if submodule is None:
                raise ValueError("The outermost block needs a submodule.")
            up_conv = nn.ConvTranspose2d(2 * inner_channels, outer_channels, 4, stride=2, padding=1)
            layers = [down_conv, submodule, up_act, up_conv, nn.Tanh()]
        elif submodule is None:
            up_conv = nn.ConvTranspose2d(inner_channels, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [down_act, down_conv, up_act, up_conv, norm_layer(outer_channels)]
        else:
            up_conv = nn.ConvTranspose2d(2 * inner_channels, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [down_act, down_conv, norm_layer(inner_channels), submodule,
                      up_act, up_conv, norm_layer(outer_channels)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels (8 for 256 px: `unet_256`, 7 for 128 px: `unet_128`).

    Filters grow ngf, 2ngf, 4ngf, then stay at 8ngf; the `num_downs - 5` inner 8ngf levels above
    the innermost use dropout 0.5 when `use_dropout`. Input sides must be multiples of `size_multiple`.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}.")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2**num_downs
        block = UnetSkipBlock(8 * ngf, 8 * ngf, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(8 * ngf, 8 * ngf, submodule=block, norm=norm, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(mult * ngf, 2 * mult * ngf, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, in_channels, submodule=block, outermost=True, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
