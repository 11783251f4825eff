"""SPL's generators as the authors' TensorFlow code builds them (Sarfraz et al., 2019): the ResNet of
domain mapping, and the reference-transfer (makeup) generator on it or on CycleGAN's ResNet.

The authors' ResNet differs from CycleGAN's (`ResnetGenerator`): batch norm after every encoder
and residual conv, an affine instance norm after the two transposed convs, TF's "SAME" padding,
biases on every conv, a ReLU after each residual sum, a zero-padded last conv and truncated-normal
initialisation. Module names follow the authors' variable scopes: `c1`..`c6`, and `blocks.<i>` for
their `r1`..`r9`.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from i2i_zoo.nets.resnet_generator import ResnetGenerator

SPL_GENERATORS = ("spl_resnet", "resnet")
SPLGenerator = Literal[SPL_GENERATORS]
STD = 0.02  # the authors' truncated-normal initialisers


def _trunc_normal_(tensor: Tensor, mean: float = 0.0) -> Tensor:
    # TF's truncated normal redraws values beyond two standard deviations.
    return nn.init.trunc_normal_(tensor, mean, STD, mean - 2 * STD, mean + 2 * STD)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # The authors' batch norm is left in training mode, at test time too: it always normalises
    # with the batch's statistics (the moving averages it updates are never read), so none are kept.
    return nn.BatchNorm2d(channels, eps=1e-5, track_running_stats=False)


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    norm = nn.InstanceNorm2d(channels, eps=1e-5, affine=True)
    _trunc_normal_(norm.weight, mean=1.0)  # their scale starts near 1, their offset at 0
    return norm


class _TFSamePad(nn.Module):
    """TF's "SAME" padding of a stride-2 3x3 conv on an even side: none before, one after."""

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, (0, 1, 0, 1))


class _TFSameTranspose(nn.ConvTranspose2d):
    """TF's conv2d_transpose with "SAME" padding, stride 2, 3x3: the transpose of a conv padded
    (0, 1), so the full transposed output (2n + 1) loses its last row and column."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x)[..., :-1, :-1]


class SPLResidualBlock(nn.Module):
    """Reflect-padded conv3x3-BN-ReLU-conv3x3-BN, then ReLU of the sum with the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _batch_norm(channels), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _batch_norm(channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


class SPLResnetGenerator(nn.Module):
    """`build_generator_resnet_9blocks_tf` of the SPL code: reflect-padded 7x7 conv, two stride-2
    3x3 convs, `n_blocks` residual blocks, two stride-2 transposed convs, zero-padded 7x7 conv, tanh.

    Input sides must be multiples of `size_multiple` (the TF padding above holds for even sides).
    Its batch norms use the batch's statistics in eval mode too, as the authors' do: an image's
    output depends on the other images of its batch. With `final_tanh=False` the output is the
    last convolution's (the makeup generator adds it to the reference before the tanh).
    """

    size_multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9,
                 final_tanh: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.c1 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), _batch_norm(ngf), nn.ReLU(inplace=True))
        self.c2, self.c3 = (
            nn.Sequential(_TFSamePad(), nn.Conv2d(ch, 2 * ch, 3, stride=2), _batch_norm(2 * ch), nn.ReLU(inplace=True))
            for ch in (ngf, 2 * ngf)
        )
        self.blocks = nn.Sequential(*(SPLResidualBlock(4 * ngf) for _ in range(n_blocks)))
        self.c4, self.c5 = (
            nn.Sequential(_TFSameTranspose(ch, ch // 2), _instance_norm(ch // 2), nn.ReLU(inplace=True))
            for ch in (4 * ngf, 2 * ngf)
        )
        self.c6 = nn.Conv2d(ngf, out_channels, 7, padding=3)
        self.final_tanh = final_tanh
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                _trunc_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.c6(self.c5(self.c4(self.blocks(self.c3(self.c2(self.c1(x)))))))
        return torch.tanh(x) if self.final_tanh else x


def spl_generator(generator: str, in_channels: int, out_channels: int, ngf: int = 64, n_blocks: int = 9,
                  norm: str = "instance", final_tanh: bool = True) -> nn.Module:
    """`spl_resnet` (the authors') or `resnet` (CycleGAN's, with `norm`; the authors' norms are fixed)."""
    if generator == "spl_resnet":
        if norm != "instance":
            raise ValueError(f"norm={norm!r} applies to the `resnet` generator; `spl_resnet` has the authors' fixed norms")
        return SPLResnetGenerator(in_channels, out_channels, ngf, n_blocks, final_tanh)
    if generator == "resnet":
        return ResnetGenerator(in_channels, out_channels, ngf, n_blocks, norm, final_tanh=final_tanh)
    raise ValueError(f"generator {generator!r} is unknown; choose one of {SPL_GENERATORS}")


class ReferenceTransfer(nn.Module):
    """SPL's makeup generator, as the original code builds it: a ResNet on the concatenation
    (source, reference) computes a residual that is added to the reference and squashed by tanh.

    Takes the source and the reference concatenated along channels (one tensor, so the module
    exports as a plain image network); its ResNet, `generator` (`spl_resnet`, the authors', or
    `resnet`, CycleGAN's with `norm`), is `net` (state-dict keys `net.c1...` or `net.model.<i>...`).
    """

    size_multiple = 4

    def __init__(self, channels: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 generator: str = "spl_resnet") -> None:
        super().__init__()
        self.in_channels, self.out_channels = 2 * channels, channels
        self.net = spl_generator(generator, 2 * channels, channels, ngf, n_blocks, norm, final_tanh=False)

    def forward(self, source_and_reference: Tensor) -> Tensor:
        reference = source_and_reference[:, self.out_channels :]
        return torch.tanh(reference + self.net(source_and_reference))
