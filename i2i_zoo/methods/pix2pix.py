"""pix2pix: paired translation with a conditional GAN and an L1 term (Isola et al., CVPR 2017)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.losses import GANLoss
from i2i_zoo.losses.adversarial import GanMode
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen, train_mode_without_stat_updates
from i2i_zoo.methods.optimizers import LrPolicy, OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.nets import PatchGANDiscriminator, UnetGenerator, init_weights
from i2i_zoo.nets.layers import InitType, Norm

DIRECTIONS = ("AtoB", "BtoA")
INFERENCE_MODES = ("train", "eval")
Direction = Literal[DIRECTIONS]
InferenceMode = Literal[INFERENCE_MODES]


class Pix2Pix(I2IMethod):
    """Generator `G` (U-Net) translates the input domain to the output domain; discriminator `D`
    (PatchGAN) judges (input, output) pairs.

    Args:
        channels_A: channels of domain A images (linked from the datamodule).
        channels_B: channels of domain B images (linked from the datamodule).
        image_size: training crop size (linked from the datamodule); checked against the U-Net depth.
        direction: `AtoB` translates A to B, `BtoA` B to A.
        ngf: generator filters in the first layer.
        ndf: discriminator filters in the first layer.
        num_downs: U-Net downsamplings (8 for 256x256, 7 for 128x128); image sides must be
            multiples of 2**num_downs.
        n_layers_D: PatchGAN depth (3 gives 70x70 receptive fields).
        norm: `batch`, `instance` or `none`.
        use_dropout: dropout in the U-Net's inner layers, pix2pix's only source of noise.
        init_type: `normal`, `xavier`, `kaiming` or `orthogonal`.
        init_gain: scale of the initialisation.
        gan_mode: `vanilla` (the paper's), `lsgan`, `wgan`, `hinge` or `softplus`.
        lambda_L1: weight of the L1 term.
        lr_g: generator learning rate.
        lr_d: discriminator learning rate.
        betas: Adam betas.
        lr_policy: `linear` (constant for n_epochs, then linear decay over n_epochs_decay) or `constant`.
        n_epochs: epochs at the initial learning rate.
        n_epochs_decay: epochs of linear decay.
        inference_mode: `train` runs `translate` with dropout on and batch norm on batch
            statistics, as the original code tests; `eval` uses running statistics and no dropout.
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the paper's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    inference_options = ("inference_mode",)

    def __init__(
        self,
        channels_A: int = 3,
        channels_B: int = 3,
        image_size: int = 256,
        direction: Direction = "AtoB",
        ngf: int = 64,
        ndf: int = 64,
        num_downs: int = 8,
        n_layers_D: int = 3,
        norm: Norm = "batch",
        use_dropout: bool = True,
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        gan_mode: GanMode = "vanilla",
        lambda_L1: float = 100.0,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: LrPolicy = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        inference_mode: InferenceMode = "train",
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        self.schedule = policy_schedule(lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)
        if direction not in DIRECTIONS:
            raise ValueError(f"model.direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        if inference_mode not in INFERENCE_MODES:
            raise ValueError(f"model.inference_mode={inference_mode!r} is unknown; choose one of {INFERENCE_MODES}")
        if image_size % 2**num_downs:
            raise ValueError(
                f"model.num_downs={num_downs} needs image sides that are multiples of {2**num_downs}, "
                f"but the crop size (data.crop_size, linked to model.image_size) is {image_size}"
            )
        self.save_hyperparameters()
        in_channels, out_channels = (channels_A, channels_B) if direction == "AtoB" else (channels_B, channels_A)
        self.G = UnetGenerator(in_channels, out_channels, num_downs=num_downs, ngf=ngf, norm=norm, use_dropout=use_dropout)
        self.D = PatchGANDiscriminator(in_channels + out_channels, ndf=ndf, n_layers=n_layers_D, norm=norm)
        init_weights(self.G, init_type, init_gain)
        init_weights(self.D, init_type, init_gain)
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_L1 = lambda_L1
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.direction = direction
        self.inference_mode = inference_mode
        self.init_ema()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return adam_pair(self.G.parameters(), self.D.parameters(), self.lr_g, self.lr_d, self.betas, self.schedule)

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    def input_channels(self) -> int:
        return self.G.in_channels

    def _source_target(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        real_a, real_b = self.require(batch, "A", "B")
        height, width = real_a.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"{height}x{width} images do not fit the U-Net (model.num_downs={self.hparams.num_downs} "
                f"needs sides that are multiples of {self.size_multiple}): set data.crop_size, or "
                "data.preprocess to one that crops or resizes"
            )
        return (real_a, real_b) if self.direction == "AtoB" else (real_b, real_a)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        source, target = self._source_target(batch)
        fake = self.G(source)

        # Discriminator: real pairs vs generated pairs, loss halved as in the paper.
        loss_D_real = self.gan_loss.d_real(self.D(torch.cat([source, target], 1)))
        loss_D_fake = self.gan_loss.d_fake(self.D(torch.cat([source, fake.detach()], 1)))
        loss_D = 0.5 * (loss_D_real + loss_D_fake)
        self.optimize("D", loss_D, {"D_real": loss_D_real, "D_fake": loss_D_fake})

        # Generator: fool D, stay close to the target in L1.
        with frozen(self.D):
            loss_G_GAN = self.gan_loss.g(self.D(torch.cat([source, fake], 1)))
        loss_G_L1 = F.l1_loss(fake, target) * self.lambda_L1
        self.optimize("G", loss_G_GAN + loss_G_L1, {"G_GAN": loss_G_GAN, "G_L1": loss_G_L1})

    def translate(self, images: Tensor) -> Tensor:
        """Translate source-domain images in [-1, 1] (sides multiples of `size_multiple`)."""
        if images.shape[1] != self.G.in_channels:
            raise ValueError(f"{self.direction} translation takes {self.G.in_channels}-channel images, got {images.shape[1]}")
        generator = self.inference_net("G")
        context = train_mode_without_stat_updates(generator) if self.inference_mode == "train" else nullcontext()
        with context:
            return generator(images)

    def export_generator(self) -> nn.Module:
        """`G` (`G_ema` with ema_decay). Exported in eval mode (dropout off, batch norm on its
        running statistics), so an exported model is deterministic, as `inference_mode: eval`."""
        return self.inference_net("G")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        source, target = self._source_target(batch)
        return {self.direction: EvalImages(fake=self.translate(source), real=target, target=target, source=source)}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        source, target = self._source_target(batch)
        return {"input": source, "output": self.translate(source), "target": target}
