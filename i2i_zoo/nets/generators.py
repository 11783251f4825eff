"""Generators by the original code's names (`--netG`): resnet_9blocks, resnet_6blocks, unet_256,
unet_128, so recipes and imported models name architectures as the papers' code does."""
from __future__ import annotations

from typing import Literal

from torch import nn

from i2i_zoo.nets.resnet_generator import ResnetGenerator
from i2i_zoo.nets.unet import UnetGenerator

GENERATORS = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
GeneratorName = Literal[GENERATORS]


def build_generator(name: str, in_channels: int, out_channels: int, ngf: int = 64, norm: str = "instance",
                    use_dropout: bool = False) -> nn.Module:
    """The generator the original code builds for `--netG name`."""
    if name == "resnet_9blocks":
        return ResnetGenerator(in_channels, out_channels, ngf, n_blocks=9, norm=norm, use_dropout=use_dropout)
    if name == "resnet_6blocks":
        return ResnetGenerator(in_channels, out_channels, ngf, n_blocks=6, norm=norm, use_dropout=use_dropout)
    if name == "unet_256":
        return UnetGenerator(in_channels, out_channels, num_downs=8, ngf=ngf, norm=norm, use_dropout=use_dropout)
    if name == "unet_128":
        return UnetGenerator(in_channels, out_channels, num_downs=7, ngf=ngf, norm=norm, use_dropout=use_dropout)
    raise ValueError(f"generator {name!r} is unknown; choose one of {GENERATORS}")
