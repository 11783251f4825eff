"""BigGAN's generator and projection discriminator (Brock et al., 2019), as in BigGAN-PyTorch.

Module, parameter and buffer names follow ajbrock/BigGAN-PyTorch (`BigGAN.py`, `layers.py`), so its
state dicts (`G.pth`, `G_ema.pth`, `D.pth`) load by key with `strict=True`
(`i2i_zoo.convert.load_biggan_pytorch` reads them and infers the configuration):

- Spectral norm is BigGAN's own, not `torch.nn.utils.spectral_norm`: every spectrally normalised layer
  keeps its left singular vector estimates `u0` (1, out) (`u1`, ... with `num_svs` > 1) and the
  estimated singular values `sv0` (1,) (for logging only). Each forward runs `num_itrs` power
  iterations from the stored `u` and divides the weight by the first singular value; only in train
  mode are `u` and `sv` written back. In eval mode sigma is recomputed from the stored `u` each time
  and nothing changes.
- Batch norms keep their statistics in `stored_mean` / `stored_var` (no `num_batches_tracked`):
  batch statistics (and a momentum-0.1 update of the stored ones) in train mode, the stored ones in
  eval mode. The generator's residual blocks use class-conditional batch norm: gain `1 + gain(c)`
  and shift `bias(c)`, spectrally normalised linear maps of the block's conditioning vector `c`.
- Hierarchical latents (`hier`): z is split into `len(blocks) + 1` equal chunks; the first feeds the
  linear layer, each of the others joins the shared class embedding as one block's `c`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

INITS = ("ortho", "N02", "glorot", "xavier")

# Channel multipliers of ch: block k maps multiplier [k] to [k + 1]. Blocks double the side from 4.
_G_CHANNELS = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
    512: (16, 16, 8, 8, 4, 2, 1, 1),
}
# Per discriminator block: (output multiplier of ch, downsamples?, side of its output). The input is RGB.
_D_BLOCKS = {
    32: ((4, True, 16), (4, True, 16), (4, False, 16), (4, False, 16)),
    64: ((1, True, 32), (2, True, 16), (4, True, 8), (8, True, 4), (16, False, 4)),
    128: ((1, True, 64), (2, True, 32), (4, True, 16), (8, True, 8), (16, True, 4), (16, False, 4)),
    256: ((1, True, 128), (2, True, 64), (4, True, 32), (8, True, 16), (8, True, 8), (16, True, 4), (16, False, 4)),
}
_BOTTOM_WIDTH = 4


def _attention_sides(attention: Sequence[int] | str | int | None) -> set[int]:
    """The sides given as (64,), [32, 64], 64 or BigGAN-PyTorch's '32_64' ('0' or None: none)."""
    if attention is None:
        return set()
    if isinstance(attention, str):
        attention = [int(item) for item in attention.split("_") if item]
    elif isinstance(attention, int):
        attention = [attention]
    sides = {int(side) for side in attention}
    bad = sorted(side for side in sides if side < 0 or (side > 0 and side & (side - 1)))
    if bad:
        raise ValueError(f"attention sides must be powers of two (e.g. (64,)), got {bad}")
    return sides - {0}


# ---- spectral norm ----------------------------------------------------------------------------


def _project_out(x: Tensor, basis: list[Tensor]) -> Tensor:
    """`x` (1, n) minus its projections onto each row vector in `basis` (Gram-Schmidt)."""
    for b in basis:
        x = x - (b @ x.t()) * b / (b @ b.t())
    return x


class SpectralNorm:
    """Mixin for a layer with `weight`: BigGAN's spectral norm (see the module docstring).

    Registers `u<i>` (1, out) ~ N(0, 1) and `sv<i>` (1,) = 1 for i < `num_svs`.
    """

    weight: Tensor
    training: bool

    def _init_spectral_norm(self, num_svs: int, num_itrs: int, num_outputs: int, eps: float) -> None:
        if num_svs < 1 or num_itrs < 1:
            raise ValueError(f"num_svs and num_itrs must be >= 1, got {num_svs} and {num_itrs}")
        self.num_svs, self.num_itrs, self.sn_eps = num_svs, num_itrs, eps
        for i in range(num_svs):
            self.register_buffer(f"u{i}", torch.randn(1, num_outputs))  # type: ignore[attr-defined]
            self.register_buffer(f"sv{i}", torch.ones(1))  # type: ignore[attr-defined]

    def singular_values(self) -> list[Tensor]:
        """The estimates of the largest `num_svs` singular values of the weight, with gradient to it;
        in train mode the stored `u<i>` and `sv<i>` are updated (one power iteration per `num_itrs`).
        Under autocast they are still computed in the weight's precision (float32), so mixed precision
        does not round the normalisation."""
        with torch.autocast(self.weight.device.type, enabled=False):  # sigma in the weight's precision
            return self._power_iteration(self.weight.reshape(self.weight.shape[0], -1))

    def _power_iteration(self, matrix: Tensor) -> list[Tensor]:
        sigmas: list[Tensor] = []
        for _ in range(self.num_itrs):
            us: list[Tensor] = []
            vs: list[Tensor] = []
            sigmas = []
            for i in range(self.num_svs):
                stored = getattr(self, f"u{i}")
                with torch.no_grad():
                    v = F.normalize(_project_out(stored @ matrix, vs), eps=self.sn_eps)
                    u = F.normalize(_project_out(v @ matrix.t(), us), eps=self.sn_eps)
                    vs.append(v)
                    us.append(u)
                    if self.training:
                        stored.copy_(u)
                sigmas.append((v @ matrix.t() @ u.t()).squeeze())
        if self.training:
            with torch.no_grad():
                for i, sigma in enumerate(sigmas):
                    getattr(self, f"sv{i}").copy_(sigma.detach().reshape(1))
        return sigmas

    def normalized_weight(self) -> Tensor:
        return self.weight / self.singular_values()[0]


class SNConv2d(nn.Conv2d, SpectralNorm):
    """`nn.Conv2d` with BigGAN's spectral norm; `u0` has one entry per output channel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1, bias: bool = True,
                 num_svs: int = 1, num_itrs: int = 1, eps: float = 1e-6) -> None:  # fmt: skip
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self._init_spectral_norm(num_svs, num_itrs, out_channels, eps)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNLinear(nn.Linear, SpectralNorm):
    """`nn.Linear` with BigGAN's spectral norm; `u0` has one entry per output feature."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 num_svs: int = 1, num_itrs: int = 1, eps: float = 1e-6) -> None:  # fmt: skip
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_spectral_norm(num_svs, num_itrs, out_features, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNEmbedding(nn.Embedding, SpectralNorm):
    """`nn.Embedding` with BigGAN's spectral norm of its (classes, dim) table; `u0` has one entry per class."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 num_svs: int = 1, num_itrs: int = 1, eps: float = 1e-6) -> None:  # fmt: skip
        nn.Embedding.__init__(self, num_embeddings, embedding_dim)
        self._init_spectral_norm(num_svs, num_itrs, num_embeddings, eps)

    def forward(self, y: Tensor) -> Tensor:
        return F.embedding(y, self.normalized_weight())


# ---- layers -----------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """SA-GAN's non-local block as BigGAN-PyTorch implements it: 1x1 convs `theta`, `phi` (C/8) and `g`
    (C/2), `phi` and `g` max-pooled 2x2, softmax attention over positions, `o` back to C channels,
    added to the input scaled by `gamma` (a scalar, 0 at initialisation)."""

    def __init__(self, channels: int, **sn: float) -> None:
        super().__init__()
        if channels // 8 < 1:
            raise ValueError(f"self-attention needs at least 8 channels, got {channels}")
        self.channels = channels
        self.theta = SNConv2d(channels, channels // 8, 1, padding=0, bias=False, **sn)
        self.phi = SNConv2d(channels, channels // 8, 1, padding=0, bias=False, **sn)
        self.g = SNConv2d(channels, channels // 2, 1, padding=0, bias=False, **sn)
        self.o = SNConv2d(channels // 2, channels, 1, padding=0, bias=False, **sn)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        n, c, h, w = x.shape
        query = self.theta(x).reshape(n, c // 8, h * w)
        key = F.max_pool2d(self.phi(x), 2).reshape(n, c // 8, h * w // 4)
        value = F.max_pool2d(self.g(x), 2).reshape(n, c // 2, h * w // 4)
        attention = torch.softmax(query.transpose(1, 2) @ key, dim=-1)  # (n, positions, pooled positions)
        out = self.o((value @ attention.transpose(1, 2)).reshape(n, c // 2, h, w))
        return x + self.gamma * out


def _stored_statistics(module: nn.Module, channels: int) -> None:
    module.register_buffer("stored_mean", torch.zeros(channels))
    module.register_buffer("stored_var", torch.ones(channels))


class ConditionalBatchNorm(nn.Module):
    """Batch norm without affine parameters, then `* (1 + gain(c)) + bias(c)`; `gain` and `bias` are
    spectrally normalised linear maps without bias (or, without a shared embedding, per-class embeddings
    looked up by label)."""

    def __init__(self, channels: int, input_size: int, eps: float = 1e-5, momentum: float = 0.1,
                 shared: bool = True, sn: dict | None = None) -> None:  # fmt: skip
        super().__init__()
        self.eps, self.momentum = eps, momentum
        sn = sn or {}
        if shared:
            self.gain: nn.Module = SNLinear(input_size, channels, bias=False, **sn)
            self.bias: nn.Module = SNLinear(input_size, channels, bias=False, **sn)
        else:
            self.gain, self.bias = nn.Embedding(input_size, channels), nn.Embedding(input_size, channels)
        _stored_statistics(self, channels)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        gain = (1 + self.gain(c)).reshape(c.shape[0], -1, 1, 1)
        bias = self.bias(c).reshape(c.shape[0], -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, self.momentum, self.eps)
        return out * gain + bias


class StoredBatchNorm(nn.Module):
    """Batch norm with a learned per-channel `gain` and `bias` and the `stored_mean`/`stored_var` buffers."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        _stored_statistics(self, channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training, self.momentum, self.eps)


class GBlock(nn.Module):
    """Generator residual block: CBN-ReLU-up2x-conv3x3-CBN-ReLU-conv3x3, plus the upsampled input
    through a 1x1 conv (`conv_sc`). Nearest-neighbour upsampling."""

    def __init__(self, in_channels: int, out_channels: int, cond_size: int, bn_eps: float = 1e-5,
                 shared: bool = True, **sn: float) -> None:  # fmt: skip
        super().__init__()
        self.conv1 = SNConv2d(in_channels, out_channels, **sn)
        self.conv2 = SNConv2d(out_channels, out_channels, **sn)
        self.conv_sc = SNConv2d(in_channels, out_channels, 1, padding=0, **sn)
        self.bn1 = ConditionalBatchNorm(in_channels, cond_size, bn_eps, shared=shared, sn=sn)
        self.bn2 = ConditionalBatchNorm(out_channels, cond_size, bn_eps, shared=shared, sn=sn)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """Discriminator residual block (wide: the hidden width is the output width): [ReLU]-conv3x3-ReLU-
    conv3x3-[avgpool2x], plus a shortcut with a 1x1 conv (`conv_sc`) where the width changes or the
    block downsamples. The first block has no pre-activation and pools before its shortcut conv; the
    others convolve, then pool."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, preactivation: bool,
                 wide: bool = True, **sn: float) -> None:  # fmt: skip
        super().__init__()
        hidden = out_channels if wide else in_channels
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = SNConv2d(in_channels, hidden, **sn)
        self.conv2 = SNConv2d(hidden, out_channels, **sn)
        self.learnable_sc = in_channels != out_channels or downsample
        if self.learnable_sc:
            self.conv_sc = SNConv2d(in_channels, out_channels, 1, padding=0, **sn)

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def shortcut(self, x: Tensor) -> Tensor:
        if not self.learnable_sc:
            return x
        return self._pool(self.conv_sc(x)) if self.preactivation else self.conv_sc(self._pool(x))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        return h + self.shortcut(x)


def _initialise(net: nn.Module, init: str) -> None:
    # BigGAN-PyTorch's init_weights: the weights of every conv, linear and embedding; biases keep
    # PyTorch's default initialisation.
    if init not in INITS:
        raise ValueError(f"Unknown init {init!r}; choose one of {', '.join(INITS)}.")
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if init == "ortho":
                nn.init.orthogonal_(module.weight)
            elif init == "N02":
                nn.init.normal_(module.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(module.weight)


# ---- networks ---------------------------------------------------------------------------------


class BigGANGenerator(nn.Module):
    """BigGAN's generator: z (and the class) -> (N, 3, resolution, resolution) images in [-1, 1].

    A spectrally normalised linear layer maps z (its first chunk with `hier`) to a 4x4 map of
    `16 * ch` channels (`4 * ch` at 32 px); residual `GBlock`s double the side up to `resolution`
    (32, 64, 128, 256 or 512), each conditioned on [shared class embedding, its z chunk] through
    conditional batch norm, with self-attention after the blocks whose output side is in `attention`
    (sides without a block are ignored, as in BigGAN-PyTorch); then batch norm, ReLU, a 3x3 conv and
    tanh. The defaults are the 128 px ImageNet model (70,433,988 parameters).

    `shared=False` (BigGAN-PyTorch's `G_shared=False`) gives each conditional batch norm its own class
    embeddings instead (no hierarchical z then). `num_svs`, `num_itrs` and `sn_eps` set the spectral
    norm (`sn_eps` 1e-6: the released models' `--SN_eps`), `bn_eps` the conditional batch norms (the
    output batch norm always uses 1e-5, as in BigGAN-PyTorch). `init`: BigGAN-PyTorch's `G_init`,
    `ortho` by default (its training default): orthogonal weights of every conv, linear and
    embedding, biases as PyTorch initialises them; `N02`, `glorot`/`xavier` the others. `skip_init`
    keeps PyTorch's default initialisation (much faster at full size: for weights about to be loaded).

    With `hier`, `dim_z` is rounded down to a multiple of the number of chunks (`len(blocks) + 1`),
    as in BigGAN-PyTorch; the attribute `dim_z` holds the width z must have.
    """

    def __init__(
        self,
        resolution: int = 128,
        ch: int = 96,
        dim_z: int = 120,
        shared_dim: int = 128,
        hier: bool = True,
        n_classes: int = 1000,
        attention: Sequence[int] | str | None = (64,),
        shared: bool = True,
        num_svs: int = 1,
        num_itrs: int = 1,
        bn_eps: float = 1e-5,
        sn_eps: float = 1e-6,
        init: str = "ortho",
        skip_init: bool = False,
    ) -> None:
        super().__init__()
        if resolution not in _G_CHANNELS:
            raise ValueError(f"BigGAN's generator is defined at {sorted(_G_CHANNELS)} px, not {resolution}")
        if hier and not shared:
            raise ValueError("hierarchical z (hier=True) needs the shared embedding (shared=True)")
        if min(ch, dim_z, n_classes) < 1 or shared_dim < 0:
            raise ValueError(f"ch, dim_z and n_classes must be positive, got {ch}, {dim_z}, {n_classes}")
        widths = [ch * m for m in _G_CHANNELS[resolution]]
        sides = [_BOTTOM_WIDTH * 2 ** (k + 1) for k in range(len(widths) - 1)]
        attend = _attention_sides(attention)
        self.resolution, self.ch, self.n_classes, self.hier, self.shared_embedding = resolution, ch, n_classes, hier, shared
        self.sides = sides  # of the blocks' outputs
        self.attention = tuple(sorted(side for side in attend if side in sides))
        self.shared_dim = shared_dim if shared_dim > 0 else dim_z
        self.num_slots = len(sides) + 1 if hier else 1
        self.z_chunk_size = dim_z // self.num_slots if hier else 0
        if hier and self.z_chunk_size < 1:
            raise ValueError(f"dim_z={dim_z} is too small to give each of {self.num_slots} chunks a dimension")
        self.dim_z = self.z_chunk_size * self.num_slots if hier else dim_z
        sn = {"num_svs": num_svs, "num_itrs": num_itrs, "eps": sn_eps}
        cond_size = self.shared_dim + self.z_chunk_size if shared else n_classes

        self.shared = nn.Embedding(n_classes, self.shared_dim) if shared else nn.Identity()
        self.linear = SNLinear(self.dim_z // self.num_slots, widths[0] * _BOTTOM_WIDTH**2, **sn)
        blocks = []
        for k, side in enumerate(sides):
            block: list[nn.Module] = [GBlock(widths[k], widths[k + 1], cond_size, bn_eps, shared, **sn)]
            if side in attend:
                block.append(SelfAttention(widths[k + 1], **sn))
            blocks.append(nn.ModuleList(block))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(StoredBatchNorm(widths[-1]), nn.ReLU(), SNConv2d(widths[-1], 3, **sn))
        if not skip_init:
            _initialise(self, init)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Images for latents `z` (N, dim_z) and integer class labels `y` (N,)."""
        if y.dim() != 1 or y.shape[0] != z.shape[0] or y.is_floating_point():
            raise ValueError(f"y must hold one integer class label per latent, shape ({z.shape[0]},); got "
                             f"{y.dtype} {tuple(y.shape)}")  # fmt: skip
        return self.from_embedding(z, self.shared(y))

    def from_embedding(self, z: Tensor, embedding: Tensor, additions: dict[int, Tensor] | None = None) -> Tensor:
        """Images for latents `z` and class embeddings `embedding` = `self.shared(y)` (N, shared_dim)
        (BigGAN-PyTorch's `G.forward`; interpolating embeddings interpolates classes).

        `additions`: side -> a map added to the hidden state of that side: after the linear layer
        (side 4) and after the block (with its attention) whose output has that side (DeepI2I's
        adapted encoder features)."""
        additions = additions or {}
        unknown = sorted(set(additions) - {_BOTTOM_WIDTH, *self.sides})
        if unknown:
            raise ValueError(f"additions at sides {unknown}: the generator's hidden states have sides {[_BOTTOM_WIDTH, *self.sides]}")
        if z.dim() != 2 or z.shape[1] != self.dim_z:
            raise ValueError(f"z must be (N, {self.dim_z}), got {tuple(z.shape)}")
        if self.hier:
            z, *chunks = torch.split(z, self.z_chunk_size, dim=1)
            conditions = [torch.cat([embedding, chunk], dim=1) for chunk in chunks]
        else:
            conditions = [embedding] * len(self.blocks)
        h = self.linear(z).reshape(z.shape[0], -1, _BOTTOM_WIDTH, _BOTTOM_WIDTH)
        if _BOTTOM_WIDTH in additions:
            h = h + additions[_BOTTOM_WIDTH]
        for blocklist, condition, side in zip(self.blocks, conditions, self.sides):
            for block in blocklist:
                h = block(h, condition)
            if side in additions:
                h = h + additions[side]
        return torch.tanh(self.output_layer(h))

    def width_at(self, side: int) -> int:
        """The channels of the hidden state of that side (4: the linear layer's output)."""
        return self.linear.out_features // _BOTTOM_WIDTH**2 if side == _BOTTOM_WIDTH else self.blocks[self.sides.index(side)][0].conv2.out_channels


class BigGANDiscriminator(nn.Module):
    """BigGAN's projection discriminator: (images (N, 3, R, R), integer labels (N,)) -> scores (N,).

    Residual `DBlock`s (wide) halve the side down to 4x4 (at 32 px: two halvings to 16x16), with
    self-attention after the blocks whose output side is in `attention` (sides without a block are
    ignored, as in BigGAN-PyTorch); the ReLU'd features are sum-pooled into `h`, and the score is
    `linear(h) + <embed(y), h>`, both spectrally normalised. Defined at 32, 64, 128 and 256 px (the
    reference has no 512 px discriminator). The defaults are the 128 px ImageNet model (87,982,370
    parameters). `init`: BigGAN-PyTorch's `D_init`, `ortho` by default, as for the generator;
    `skip_init` keeps PyTorch's default initialisation.
    """

    def __init__(
        self,
        resolution: int = 128,
        ch: int = 96,
        n_classes: int = 1000,
        attention: Sequence[int] | str | None = (64,),
        wide: bool = True,
        num_svs: int = 1,
        num_itrs: int = 1,
        sn_eps: float = 1e-6,
        init: str = "ortho",
        skip_init: bool = False,
    ) -> None:
        super().__init__()
        if min(ch, n_classes) < 1:
            raise ValueError(f"ch and n_classes must be positive, got {ch} and {n_classes}")
        sn = {"num_svs": num_svs, "num_itrs": num_itrs, "eps": sn_eps}
        self.blocks = discriminator_blocks(resolution, ch, attention, wide, sn)
        self.resolution, self.ch, self.n_classes = resolution, ch, n_classes
        self.attention = tuple(sorted({side for *_, side in _D_BLOCKS[resolution] if side in _attention_sides(attention)}))
        width = ch * _D_BLOCKS[resolution][-1][0]
        self.linear = SNLinear(width, 1, **sn)
        self.embed = SNEmbedding(n_classes, width, **sn)
        if not skip_init:
            _initialise(self, init)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.forward_with_features(x, y, sides=())[0]

    def forward_with_features(self, x: Tensor, y: Tensor, sides: Sequence[int]) -> tuple[Tensor, dict[int, Tensor]]:
        """The scores and the hidden states of the given sides (see `tapped_features`)."""
        if y.dim() != 1 or y.shape[0] != x.shape[0] or y.is_floating_point():
            raise ValueError(f"y must hold one integer class label per image, shape ({x.shape[0]},); got "
                             f"{y.dtype} {tuple(y.shape)}")  # fmt: skip
        h, features = tapped_features(self.blocks, x, sides)
        h = h.sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1), features


def discriminator_blocks(resolution: int, ch: int, attention: Sequence[int] | str | None, wide: bool, sn: dict) -> nn.ModuleList:
    """BigGAN's discriminator blocks, each a ModuleList of a DBlock and, at `attention` sides, a
    SelfAttention (the discriminator's and DeepI2I's encoder's layout)."""
    if resolution not in _D_BLOCKS:
        raise ValueError(f"BigGAN's discriminator is defined at {sorted(_D_BLOCKS)} px, not {resolution}")
    attend = _attention_sides(attention)
    blocks, width = [], 3
    for k, (multiplier, downsample, side) in enumerate(_D_BLOCKS[resolution]):
        block: list[nn.Module] = [DBlock(width, ch * multiplier, downsample, preactivation=k > 0, wide=wide, **sn)]
        width = ch * multiplier
        if side in attend:
            block.append(SelfAttention(width, **sn))
        blocks.append(nn.ModuleList(block))
    return nn.ModuleList(blocks)


def discriminator_sides(resolution: int) -> list[int]:
    """The side of each discriminator block's output (the layout table's sides only name where
    attention goes, as BigGAN-PyTorch's, which labels all four 32 px blocks 16)."""
    sides, side = [], resolution
    for _, downsample, _ in _D_BLOCKS[resolution]:
        side //= 2 if downsample else 1
        sides.append(side)
    return sides


def tapped_features(blocks: nn.ModuleList, x: Tensor, sides: Sequence[int]) -> tuple[Tensor, dict[int, Tensor]]:
    """Run discriminator `blocks` on `x`: the ReLU of the last block's output (what the
    discriminator sum-pools) and, for each of `sides`, the output of the last block of that side.
    The last block's is taken after that ReLU (BigGAN-PyTorch's in-place ReLU changes the tapped
    tensor too, so DeepI2I's deepest features are >= 0)."""
    features: dict[int, Tensor] = {}
    h = x
    for blocklist in blocks[:-1]:
        for block in blocklist:
            h = block(h)
        if h.shape[-1] in sides:
            features[h.shape[-1]] = h
    for block in blocks[-1]:
        h = block(h)
    h = F.relu(h)
    if h.shape[-1] in sides:
        features[h.shape[-1]] = h
    return h, features
