"""SRResNet, the generator of SRGAN (Ledig et al., 2017), as the SPL paper uses it for x4 super-resolution.

Layer order follows the TensorFlow code the SPL authors train: a 9x9 input conv with PReLU, residual blocks
(conv-BN-PReLU-conv-BN plus the block input), a conv-BN closing the long skip from the input stage, one
conv-PixelShuffle(2)-PReLU stage per factor of two, and a 9x9 output conv. A tanh keeps outputs in [-1, 1],
the package's image range. `nn.PixelShuffle` orders channels as the TF code's `pixelShuffler`: output
channel c at sub-pixel (i, j) of each 2x2 block comes from conv channel 4c + 2i + j. Batch norm is the TF
code's by default (`batch_tf`: a learned shift but no scale, eps 1e-3) or PyTorch's (`batch`: scale and
shift, eps 1e-5); momentum 0.1 is TF's decay 0.9 in both, and both use moving averages in eval mode.
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import torch.nn as nn
from torch import Tensor

from i2i_zoo.nets.layers import get_norm_layer

SCALES = (2, 4, 8)
SRRESNET_NORMS = ("batch_tf", "batch", "none")
SRResNetNorm = Literal[SRRESNET_NORMS]


def _conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    # TF 'SAME' padding at stride 1 is symmetric zero padding of kernel_size // 2.
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ShiftBatchNorm2d(nn.BatchNorm2d):
    """TF's batch_norm(scale=False, epsilon=1e-3), which the SPL code uses: normalise, then add a learned
    shift; no scale parameter (state-dict keys `bias`, `running_mean`, `running_var`, `num_batches_tracked`)."""

    def __init__(self, num_features: int, eps: float = 1e-3, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps, momentum)
        self.register_parameter("weight", None)

    def reset_parameters(self) -> None:  # BatchNorm2d's would set the scale it no longer has
        self.reset_running_stats()
        nn.init.zeros_(self.bias)


def _norm_layer(norm: str) -> Callable[[int], nn.Module]:
    return ShiftBatchNorm2d if norm == "batch_tf" else get_norm_layer(norm)


class SRResidualBlock(nn.Module):
    """conv3x3-norm-PReLU-conv3x3-norm plus the block input (no activation after the sum)."""

    def __init__(self, channels: int, norm: str = "batch_tf") -> None:
        super().__init__()
        norm_layer, bias = _norm_layer(norm), norm == "none"
        self.body = nn.Sequential(
            _conv(channels, channels, 3, bias), norm_layer(channels), nn.PReLU(channels),
            _conv(channels, channels, 3, bias), norm_layer(channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """Upscales by `scale` (2, 4 or 8): `(N, in_channels, H, W)` -> `(N, out_channels, scale*H, scale*W)`.

    Inputs and outputs are in [-1, 1]. `norm="none"` drops batch norm (and gives the convs a bias), as
    EDSR-style variants do. Convs start from Xavier-uniform weights and zero biases (TF's
    `xavier_initializer`, as the SPL code), PReLU slopes from 0 (its `prelu_tf`; PyTorch's default is 0.25).
    """

    size_multiple = 1

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_features: int = 64,
                 num_blocks: int = 16, norm: str = "batch_tf") -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"SRResNet upscales by a power of two: scale (model.scale) must be one of "
                             f"{', '.join(map(str, SCALES))}, got {scale!r}.")
        if norm not in SRRESNET_NORMS:
            raise ValueError(f"Unknown SRResNet norm {norm!r}; choose one of {', '.join(SRRESNET_NORMS)}.")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.head = nn.Sequential(_conv(in_channels, num_features, 9), nn.PReLU(num_features))
        self.body = nn.Sequential(
            *(SRResidualBlock(num_features, norm) for _ in range(num_blocks)),
            _conv(num_features, num_features, 3, bias=norm == "none"),
            _norm_layer(norm)(num_features),
        )
        upsample: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            # 4x the channels, rearranged by PixelShuffle into a 2x2 neighbourhood each.
            upsample += [_conv(num_features, 4 * num_features, 3), nn.PixelShuffle(2), nn.PReLU(num_features)]
        self.upsample = nn.Sequential(*upsample)
        self.tail = nn.Sequential(_conv(num_features, out_channels, 9), nn.Tanh())
        self._init_weights()

    def _init_weights(self) -> None:
        # Not layers.init_weights: its xavier is normal with gain 0.02 and it redraws batch-norm scales.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.PReLU):
                nn.init.zeros_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        features = self.head(x)
        return self.tail(self.upsample(features + self.body(features)))
