"""StarGAN's generator and discriminator (Choi et al., 2018).

The generator sees the image with the target labels tiled over it as extra channels; the discriminator
has a WGAN source head (a 3x3 patch map) and a domain-classification head whose kernel covers the whole
final feature map, so its size follows the image size. Layer order and `main.<i>` indices match the
original code's `nn.Sequential`s, so its state dicts map onto these modules by renaming a few prefixes
(i2i_zoo.convert.stargan). Instance norm keeps no running statistics: the original never switches to
eval mode, so its networks always normalise with per-image statistics, and so do these, in both modes.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor


def tile_labels(x: Tensor, c: Tensor) -> Tensor:
    """`x` (N, C, H, W) with the label vectors `c` (N, K) repeated over every pixel: (N, C + K, H, W)."""
    if c.dim() != 2 or c.shape[0] != x.shape[0]:
        raise ValueError(f"Labels must be (N, K) with N = {x.shape[0]} images, got shape {tuple(c.shape)}.")
    c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, c], dim=1)


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    # Per-image statistics in train and eval (the original's effective behaviour, see the module docstring).
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class StarGANResidualBlock(nn.Module):
    """conv3x3-IN-ReLU-conv3x3-IN plus the block input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _instance_norm(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), _instance_norm(channels),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


class StarGANTrunk(nn.Module):
    """The StarGAN generator without its output conv: `forward(x, c)` -> (N, conv_dim, H, W) features.

    7x7 conv, two stride-2 4x4 downsamplings, `repeat_num` residual blocks, two 4x4 transposed-conv
    upsamplings, each conv followed by instance norm and ReLU. Input sides must be multiples of
    `size_multiple`.
    """

    size_multiple = 4

    def __init__(self, in_channels: int = 3, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        self.in_channels, self.c_dim, self.out_channels = in_channels, c_dim, conv_dim
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels + c_dim, conv_dim, 7, padding=3, bias=False), _instance_norm(conv_dim),
            nn.ReLU(inplace=True),
        ]  # fmt: skip
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, 2 * dim, 4, stride=2, padding=1, bias=False), _instance_norm(2 * dim),
                       nn.ReLU(inplace=True)]
            dim *= 2
        layers += [StarGANResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, stride=2, padding=1, bias=False),
                       _instance_norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.main(tile_labels(x, c))


class StarGANGenerator(nn.Module):
    """`forward(x, c)`: the image translated to the labels `c` (N, c_dim), in [-1, 1]."""

    size_multiple = StarGANTrunk.size_multiple

    def __init__(self, in_channels: int = 3, c_dim: int = 5, conv_dim: int = 64, repeat_num: int = 6) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.c_dim = in_channels, in_channels, c_dim
        self.trunk = StarGANTrunk(in_channels, c_dim, conv_dim, repeat_num)
        self.head = nn.Sequential(nn.Conv2d(conv_dim, in_channels, 7, padding=3, bias=False), nn.Tanh())

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.head(self.trunk(x, c))


class StarGANDiscriminator(nn.Module):
    """`forward(x)` -> (src (N, 1, h, w) WGAN critic map, cls (N, c_dim) domain logits).

    `repeat_num` stride-2 4x4 convs with LeakyReLU(0.01) and no norm, doubling channels after the
    first up to `max_channels` (None: no cap, StarGAN's); the `cls` head's kernel is the final
    map's side, image_size / 2**repeat_num.
    """

    def __init__(self, image_size: int = 128, in_channels: int = 3, c_dim: int = 5, conv_dim: int = 64,
                 repeat_num: int = 6, max_channels: int | None = None) -> None:
        super().__init__()
        if image_size % 2**repeat_num:
            raise ValueError(f"The StarGAN discriminator halves the image {repeat_num} times: image_size "
                             f"(model.image_size) must be a multiple of {2**repeat_num}, got {image_size}.")
        self.image_size, self.in_channels, self.c_dim = image_size, in_channels, c_dim
        layers: list[nn.Module] = [nn.Conv2d(in_channels, conv_dim, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            wider = 2 * dim if max_channels is None else min(2 * dim, max_channels)
            layers += [nn.Conv2d(dim, wider, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim = wider
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(dim, 1, 3, padding=1, bias=False)
        self.cls = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"The StarGAN discriminator was built for {self.image_size}x{self.image_size} images "
                             f"(model.image_size), got {x.shape[-2]}x{x.shape[-1]}.")
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)


class FixedLabelGenerator(nn.Module):
    """A label-conditioned generator with its target labels fixed: `forward(x)` is
    `generator(x, labels)` for every image, so it deploys as a plain image-to-image network."""

    def __init__(self, generator: nn.Module, labels: Tensor) -> None:
        super().__init__()
        self.generator = generator
        self.in_channels, self.size_multiple = generator.in_channels, generator.size_multiple
        self.register_buffer("labels", labels.detach().reshape(1, -1).float().clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.generator(x, self.labels.expand(x.shape[0], -1))
