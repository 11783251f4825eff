"""AsymGAN's networks (Li et al., "Asymmetric GAN for Unpaired Image-to-Image Translation", IEEE
TIP 2019, Sec. III): the auxiliary encoder E (x -> z, the information G drops), the generator F
that rebuilds the rich domain from a poor-domain image and z, and the discriminator D_Z of z.
G (X -> Y) is CycleGAN's 6-block ResNet generator. No official code exists; the paper leaves z's
shape and D_Z's form open, and the choices here are documented where they are made.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from i2i_zoo.nets.layers import conv_bias, get_norm_layer
from i2i_zoo.nets.patchgan import PatchGANDiscriminator
from i2i_zoo.nets.resnet_generator import ResnetBlock

Z_INJECTIONS = ("concat", "decoder_concat", "cin")
ZInjection = Literal[Z_INJECTIONS]
# F's residual blocks (counted from 0) that take z: concat enters after block 2, the third of six
# (the paper's Eq. 12 version); cin conditions blocks 2-4, our choice of the paper's "middle 3"
# of six, starting where concat enters.
CONCAT_AFTER_BLOCK = 2
CIN_BLOCKS = (2, 3, 4)
# The smallest z map side D_Z's PatchGAN (one stride-2 layer, then two 4x4 convs, instance norm)
# can judge.
MIN_Z_MAP_SIDE = 8


class AuxiliaryEncoder(nn.Module):
    """E: a 7x7 stem, three stride-2 3x3 convs (to 1/8 of the side) and three residual blocks, then
    a 1x1 conv to `z_channels`. `z_map=True`: z is that map, (N, z_channels, H/8, W/8) (the
    concat injection); else its spatial average, an (N, z_channels) vector (the paper's extension
    version: "E followed by average pooling to an 8-dim z").

    `norm` defaults to `instance` for a z map and `layer` for a z vector: instance norm sets every
    channel's spatial mean to the same value for every image, so the average of its features
    barely depends on x (measured at initialisation: the z of different images differed by 10% of
    z's scale with instance norm, 40% with layer norm).
    """

    size_multiple = 8

    def __init__(self, in_channels: int = 3, ngf: int = 64, z_channels: int = 8, z_map: bool = False,
                 norm: str | None = None) -> None:  # fmt: skip
        super().__init__()
        norm = norm or ("instance" if z_map else "layer")
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(inplace=True)]
        channels = ngf
        for _ in range(3):
            layers += [nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=bias), norm_layer(2 * channels), nn.ReLU(inplace=True)]
            channels *= 2
        layers += [ResnetBlock(channels, norm) for _ in range(3)]
        layers.append(nn.Conv2d(channels, z_channels, 1))
        self.model = nn.Sequential(*layers)
        self.z_channels, self.z_map = z_channels, z_map

    def forward(self, x: Tensor) -> Tensor:
        z = self.model(x)
        return z if self.z_map else z.mean(dim=(2, 3))


class ConditionalInstanceNorm(nn.Module):
    """Instance norm without affine parameters, then `* (1 + gain(z)) + bias(z)`, linear maps of
    the z vector (zero z: plain instance norm)."""

    def __init__(self, channels: int, z_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gain = nn.Linear(z_dim, channels)
        self.bias = nn.Linear(z_dim, channels)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.norm(x) * (1 + self.gain(z))[:, :, None, None] + self.bias(z)[:, :, None, None]

    def reset_parameters(self) -> None:
        self.gain.reset_parameters()
        self.bias.reset_parameters()


class CINResnetBlock(nn.Module):
    """A residual block whose two instance norms are conditioned on z."""

    def __init__(self, channels: int, z_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.norm1 = ConditionalInstanceNorm(channels, z_dim)
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.norm2 = ConditionalInstanceNorm(channels, z_dim)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = F.relu(self.norm1(self.conv1(x), z))
        return x + self.norm2(self.conv2(h), z)


class AuxiliaryGenerator(nn.Module):
    """F: (y, z) -> x, CycleGAN's ResNet generator (7x7 stem, two stride-2 convs, `n_blocks`
    residual blocks, two transposed convs, 7x7 conv, tanh) with z injected (`z_injection`):

    - `concat` (Eq. 12's version): z, a map at 1/8 of the side, upsampled (nearest) to the blocks'
      1/4 and concatenated after residual block 3, then a 1x1 conv back to the blocks' width;
    - `decoder_concat` (Fig. 12): the z vector broadcast and concatenated to the input of every
      decoder layer (both transposed convs and the output conv);
    - `cin` (the extension version): the z vector conditions the instance norms of the middle three
      residual blocks.

    `decoder_norm` normalises the two upsampling layers; default `layer` with `cin`, else `norm`.
    Instance norm there would remove most of what CIN writes: the per-channel scales and shifts it
    sets are per-channel statistics, which the next instance norm resets (MUNIT's decoder uses
    layer norm after its AdaIN blocks for this reason). Measured on the demo data: with instance
    norm throughout, F's output moved by 0.008 between two z after 300 iterations (z ignored).
    """

    size_multiple = 8  # the concat injection's z map is at 1/8

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 6, z_channels: int = 8,
                 z_injection: str = "cin", norm: str = "instance", decoder_norm: str | None = None) -> None:  # fmt: skip
        super().__init__()
        if z_injection not in Z_INJECTIONS:
            raise ValueError(f"z_injection={z_injection!r} is unknown; choose one of {Z_INJECTIONS}")
        if n_blocks <= max(CIN_BLOCKS):
            raise ValueError(f"F needs at least {max(CIN_BLOCKS) + 1} residual blocks for its z injection, got n_blocks={n_blocks}")
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        self.in_channels, self.out_channels, self.z_channels, self.z_injection = in_channels, out_channels, z_channels, z_injection
        width = 4 * ngf
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(inplace=True),
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1, bias=bias), norm_layer(2 * ngf), nn.ReLU(inplace=True),
            nn.Conv2d(2 * ngf, width, 3, stride=2, padding=1, bias=bias), norm_layer(width), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.blocks = nn.ModuleList(
            CINResnetBlock(width, z_channels) if z_injection == "cin" and k in CIN_BLOCKS else ResnetBlock(width, norm)
            for k in range(n_blocks)
        )
        if z_injection == "concat":
            self.fuse = nn.Conv2d(width + z_channels, width, 1)
        extra = z_channels if z_injection == "decoder_concat" else 0
        decoder_norm = decoder_norm or ("layer" if z_injection == "cin" else norm)
        up_norm, up_bias = get_norm_layer(decoder_norm), conv_bias(decoder_norm)
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(ch + extra, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=up_bias),
                up_norm(ch // 2), nn.ReLU(inplace=True),
            )
            for ch in (width, 2 * ngf)
        )  # fmt: skip
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf + extra, out_channels, 7), nn.Tanh())

    def reset_z_layers(self) -> None:
        """PyTorch's default initialisation for the layers that read z (CIN's gain and bias, the
        concat injection's 1x1 conv), whatever initialised the rest: CycleGAN's N(0, 0.02) weights
        there make F's output nearly blind to z, and E and F then took hundreds of iterations to
        start carrying z through the z cycle (measured on the demo data; a few tens with these)."""
        for module in self.modules():
            if isinstance(module, ConditionalInstanceNorm):
                module.reset_parameters()
        if self.z_injection == "concat":
            self.fuse.reset_parameters()

    def forward(self, y: Tensor, z: Tensor) -> Tensor:
        self._check_z(y, z)
        h = self.encoder(y)
        for k, block in enumerate(self.blocks):
            h = block(h, z) if isinstance(block, CINResnetBlock) else block(h)
            if self.z_injection == "concat" and k == CONCAT_AFTER_BLOCK:
                h = self.fuse(torch.cat([h, F.interpolate(z, size=h.shape[-2:], mode="nearest")], dim=1))
        for layer in [*self.up, self.head]:
            if self.z_injection == "decoder_concat":
                h = torch.cat([h, z[:, :, None, None].expand(-1, -1, *h.shape[-2:])], dim=1)
            h = layer(h)
        return h

    def _check_z(self, y: Tensor, z: Tensor) -> None:
        if self.z_injection == "concat":
            expected = (y.shape[0], self.z_channels, y.shape[-2] // 8, y.shape[-1] // 8)
        else:
            expected = (y.shape[0], self.z_channels)
        if tuple(z.shape) != expected:
            raise ValueError(f"F with z_injection={self.z_injection} takes z of shape {expected} for y of {tuple(y.shape)}, got {tuple(z.shape)}")


class LatentDiscriminator(nn.Module):
    """D_Z: judges z against samples of N(0, I). For a z map (the concat injection) a PatchGAN with
    one stride-2 layer (16x16 patches of the map; the paper's "20x20 PatchGAN" is not a size this
    4x4-kernel family has); for a z vector, which a PatchGAN cannot judge, an MLP (z_channels ->
    `hidden` -> `hidden` -> 1, LeakyReLU 0.2). Raw logits (LSGAN compares them with 1 and 0)."""

    def __init__(self, z_channels: int = 8, z_map: bool = False, hidden: int = 64, ndf: int = 64) -> None:
        super().__init__()
        self.z_map = z_map
        if z_map:
            self.model: nn.Module = PatchGANDiscriminator(z_channels, ndf, n_layers=1, norm="instance")
        else:
            self.model = nn.Sequential(
                nn.Linear(z_channels, hidden), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(hidden, 1),
            )  # fmt: skip

    def forward(self, z: Tensor) -> Tensor:
        return self.model(z)


class FixedLatentGenerator(nn.Module):
    """F with one z fixed, images -> translations (for export). A z map is resized (nearest) to
    each input's side / 8, so any multiple-of-8 size works."""

    def __init__(self, generator: AuxiliaryGenerator, z: Tensor) -> None:
        super().__init__()
        self.generator = generator
        self.in_channels = generator.in_channels
        self.register_buffer("z", z.unsqueeze(0).clone())

    def forward(self, y: Tensor) -> Tensor:
        z = self.z
        if z.dim() == 4:
            z = F.interpolate(z, size=(y.shape[-2] // 8, y.shape[-1] // 8), mode="nearest")
        return self.generator(y, z.expand(y.shape[0], *z.shape[1:]))
