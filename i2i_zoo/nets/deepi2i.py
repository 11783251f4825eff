"""DeepI2I's networks (Wang, Yu and van de Weijer, NeurIPS 2020): a BigGAN discriminator's blocks
become the encoder, adaptors map its features to the BigGAN generator's hidden states, where they
are added. The layout follows the authors' code (yaxingwang/DeepI2I, `DeepI2I_BigGAN/BigGAN.py`):
the encoder is tapped at the sides r with resolution / 32 <= r <= resolution / 4 (128 px: 32, 16,
8 and 4), and the generator adds `w_r * A_r(E_r(x))` to its hidden state of side r."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from i2i_zoo.nets.biggan import (
    _D_BLOCKS,
    BigGANGenerator,
    DBlock,
    _initialise,
    discriminator_blocks,
    discriminator_sides,
    tapped_features,
)


def tap_sides(resolution: int) -> list[int]:
    """The encoder's tapped sides at `resolution`, largest first: those of its blocks' outputs
    between resolution / 32 and resolution / 4 (the authors' rule; at 32 px only 8)."""
    return sorted({side for side in discriminator_sides(resolution) if resolution / 32 <= side <= resolution / 4}, reverse=True)


class BigGANEncoder(nn.Module):
    """The blocks of a BigGAN discriminator (`BigGANDiscriminator`'s `blocks.*` names, so its state
    dict loads), without its linear head and class embedding: images -> features at `tap_sides`.

    Args mirror `BigGANDiscriminator`'s (`ch`, `attention`, spectral norm); `init` as there."""

    def __init__(self, resolution: int = 128, ch: int = 96, attention: Sequence[int] | str | None = (64,), wide: bool = True,
                 num_svs: int = 1, num_itrs: int = 1, sn_eps: float = 1e-6, init: str = "ortho", skip_init: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.blocks = discriminator_blocks(resolution, ch, attention, wide, {"num_svs": num_svs, "num_itrs": num_itrs, "eps": sn_eps})
        self.resolution, self.ch = resolution, ch
        self.sides = tap_sides(resolution)
        widths = {side: ch * multiplier for side, (multiplier, _, _) in zip(discriminator_sides(resolution), _D_BLOCKS[resolution])}
        self.widths = {side: widths[side] for side in self.sides}
        if not skip_init:
            _initialise(self, init)

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"the encoder takes RGB images of {self.resolution} x {self.resolution} (N, 3, H, W), got {tuple(x.shape)}")
        return tapped_features(self.blocks, x, self.sides)[1]


class Adaptors(nn.Module):
    """One adaptor per tapped side: a pre-activation residual block without downsampling
    (ReLU-conv3x3-ReLU-conv3x3, a 1x1 shortcut where the channels change, spectral norm) from the
    encoder's channels to the generator's at that side. Modules `adaptors.<side>`. `init`: None
    keeps PyTorch's default initialisation (the authors' code skips its own when it starts from
    the pretrained BigGAN), else BigGAN's (`ortho`, ..., as when everything trains from scratch)."""

    def __init__(self, encoder_widths: dict[int, int], generator_widths: dict[int, int], sn_eps: float = 1e-6,
                 init: str | None = None) -> None:  # fmt: skip
        super().__init__()
        self.adaptors = nn.ModuleDict({
            str(side): DBlock(width, generator_widths[side], downsample=False, preactivation=True, eps=sn_eps)
            for side, width in encoder_widths.items()
        })
        if init is not None:
            _initialise(self, init)

    def forward(self, features: dict[int, Tensor]) -> dict[int, Tensor]:
        return {int(side): adaptor(features[int(side)]) for side, adaptor in self.adaptors.items()}


class DeepI2ITranslator(nn.Module):
    """E -> A -> G as one module: images (N, 3, R, R) in [-1, 1] -> their translations into the
    classes `y` (N,) (embedding rows) with latents `z` (N, dim_z). `weights`: side -> w_r."""

    def __init__(self, E: BigGANEncoder, A: Adaptors, G: BigGANGenerator, weights: dict[int, float]) -> None:
        super().__init__()
        self.E, self.A, self.G, self.weights = E, A, G, dict(weights)

    def forward(self, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        adapted = self.A(self.E(x))
        return self.G.from_embedding(z, self.G.shared(y), {side: self.weights[side] * a for side, a in adapted.items()})


class FixedTargetTranslator(nn.Module):
    """A `DeepI2ITranslator` with its class and latent fixed: images -> translations, for export."""

    def __init__(self, translator: DeepI2ITranslator, y: int, z: Tensor) -> None:
        super().__init__()
        self.translator = translator
        self.in_channels = 3
        self.register_buffer("y", torch.tensor([y], dtype=torch.long))
        self.register_buffer("z", z.reshape(1, -1).clone())

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        return self.translator(x, self.y.expand(n), self.z.expand(n, -1))
