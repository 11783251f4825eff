"""CycleGAN: unpaired translation with cycle consistency (Zhu et al., ICCV 2017)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.functional import l1_loss

from i2i_zoo.losses import GANLoss
from i2i_zoo.losses.adversarial import GanMode
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen
from i2i_zoo.methods.image_pool import ImagePool, load_pools, save_pools
from i2i_zoo.methods.optimizers import LrPolicy, OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.nets import PatchGANDiscriminator, build_generator, init_weights
from i2i_zoo.nets.generators import GeneratorName
from i2i_zoo.nets.layers import InitType, Norm

DIRECTIONS = ("AtoB", "BtoA")
Direction = Literal[DIRECTIONS]


class CycleGAN(I2IMethod):
    """Generators `G` (A -> B) and `F` (B -> A); discriminators `D_A` (judges domain A images)
    and `D_B` (judges domain B images).

    Args:
        channels_A: channels of domain A images (linked from the datamodule).
        channels_B: channels of domain B images (linked from the datamodule).
        image_size: training crop size (linked from the datamodule).
        generator: `resnet_9blocks` (the paper's, 256 px), `resnet_6blocks` (128 px),
            `unet_256` or `unet_128`.
        ngf: generator filters in the first layer.
        ndf: discriminator filters in the first layer.
        n_layers_D: PatchGAN depth (3 gives 70x70 receptive fields).
        norm: `instance` (the paper's), `batch` or `none`.
        use_dropout: dropout in the generators' residual blocks.
        init_type: `normal`, `xavier`, `kaiming` or `orthogonal`.
        init_gain: scale of the initialisation.
        gan_mode: `lsgan` (the paper's), `vanilla`, `wgan`, `hinge` or `softplus`.
        lambda_A: weight of the cycle loss A -> B -> A.
        lambda_B: weight of the cycle loss B -> A -> B.
        lambda_identity: weight of the identity loss relative to lambda_A / lambda_B
            (G(b) ~ b, F(a) ~ a); 0 disables it. Needs channels_A == channels_B.
        pool_size: generated images each discriminator also learns from (0: none).
        lr_g: generators' learning rate.
        lr_d: discriminators' learning rate.
        betas: Adam betas.
        lr_policy: `linear` (constant for n_epochs, then linear decay over n_epochs_decay) or `constant`.
        n_epochs: epochs at the initial learning rate.
        n_epochs_decay: epochs of linear decay.
        direction: the translation `translate` and predict use by default.
        ema_decay: decay of moving averages `G_ema`, `F_ema` that then translate; 0 (the paper's): none.
        ema_start: iterations before which the averages copy the generators.
    """

    inference_options = ("direction",)
    generator_names = ("G", "F")

    def __init__(
        self,
        channels_A: int = 3,
        channels_B: int = 3,
        image_size: int = 256,
        generator: GeneratorName = "resnet_9blocks",
        ngf: int = 64,
        ndf: int = 64,
        n_layers_D: int = 3,
        norm: Norm = "instance",
        use_dropout: bool = False,
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        gan_mode: GanMode = "lsgan",
        lambda_A: float = 10.0,
        lambda_B: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: LrPolicy = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        direction: Direction = "AtoB",
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        self.schedule = policy_schedule(lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)
        if direction not in DIRECTIONS:
            raise ValueError(f"model.direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        if lambda_identity > 0 and channels_A != channels_B:
            raise ValueError(
                f"model.lambda_identity={lambda_identity} compares G(b) with b, which needs channels_A == "
                f"channels_B (got {channels_A} and {channels_B}); set model.lambda_identity to 0"
            )
        self.save_hyperparameters()
        self.G = build_generator(generator, channels_A, channels_B, ngf, norm, use_dropout)
        self.F = build_generator(generator, channels_B, channels_A, ngf, norm, use_dropout)
        if image_size % self.G.size_multiple:
            raise ValueError(
                f"model.generator={generator} needs image sides that are multiples of {self.G.size_multiple}, "
                f"but the crop size (data.crop_size, linked to model.image_size) is {image_size}"
            )
        self.D_A = PatchGANDiscriminator(channels_A, ndf, n_layers_D, norm)
        self.D_B = PatchGANDiscriminator(channels_B, ndf, n_layers_D, norm)
        for net in (self.G, self.F, self.D_A, self.D_B):
            init_weights(net, init_type, init_gain)
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_A, self.lambda_B, self.lambda_identity = lambda_A, lambda_B, lambda_identity
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.direction = direction
        # Fakes of each domain that its discriminator learns from.
        self.pool_A, self.pool_B = ImagePool(pool_size), ImagePool(pool_size)
        # Instance norm (or none) normalises each image alone, so one call on two stacked batches
        # computes what two calls would, with half the kernel launches; batch norm would not.
        self.stack_batches = norm != "batch"
        self.init_ema()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        generators = [*self.G.parameters(), *self.F.parameters()]
        discriminators = [*self.D_A.parameters(), *self.D_B.parameters()]
        return adam_pair(generators, discriminators, self.lr_g, self.lr_d, self.betas, self.schedule)

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    def input_channels(self) -> int:
        return self.export_generator().in_channels  # G's (A) or F's (B), by model.direction

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = self.require(batch, "A", "B")
        identity = self.lambda_identity > 0
        # The identity terms' G(b) and F(a) come with the translations.
        fake_b, idt_b = self._forward_pair(self.G, real_a, real_b if identity else None)
        fake_a, idt_a = self._forward_pair(self.F, real_b, real_a if identity else None)

        # Generators first: fool both discriminators, come back around both cycles, and (the
        # identity term) leave images already in the target domain unchanged.
        with frozen(self.D_A, self.D_B):
            loss_G_GAN = self.gan_loss.g(self.D_B(fake_b))
            loss_F_GAN = self.gan_loss.g(self.D_A(fake_a))
        loss_cycle_A = l1_loss(self.F(fake_b), real_a) * self.lambda_A
        loss_cycle_B = l1_loss(self.G(fake_a), real_b) * self.lambda_B
        terms = {"G_GAN": loss_G_GAN, "F_GAN": loss_F_GAN, "cycle_A": loss_cycle_A, "cycle_B": loss_cycle_B}
        if identity:
            terms["idt_G"] = l1_loss(idt_b, real_b) * self.lambda_B * self.lambda_identity
            terms["idt_F"] = l1_loss(idt_a, real_a) * self.lambda_A * self.lambda_identity
        self.optimize("G", sum(terms.values()), terms)

        # Discriminators: real images vs detached fakes drawn from the pools, each loss halved.
        scores_A, scores_fake_A = self._forward_pair(self.D_A, real_a, self.pool_A.query(fake_a.detach()))
        scores_B, scores_fake_B = self._forward_pair(self.D_B, real_b, self.pool_B.query(fake_b.detach()))
        loss_D_A = 0.5 * (self.gan_loss.d_real(scores_A) + self.gan_loss.d_fake(scores_fake_A))
        loss_D_B = 0.5 * (self.gan_loss.d_real(scores_B) + self.gan_loss.d_fake(scores_fake_B))
        self.optimize("D", loss_D_A + loss_D_B, {"D_A": loss_D_A, "D_B": loss_D_B})

    def _forward_pair(self, net: nn.Module, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """`net(x)` and `net(y)` (None for y None), in one call where `stack_batches` allows."""
        if y is None:
            return net(x), None
        if not self.stack_batches:
            return net(x), net(y)
        out_x, out_y = net(torch.cat([x, y])).split([len(x), len(y)])
        return out_x, out_y

    def translate(self, images: Tensor, direction: str | None = None) -> Tensor:
        """Translate [-1, 1] images A -> B (`AtoB`, with G) or B -> A (`BtoA`, with F)."""
        generator = self.export_generator(direction)
        if images.shape[1] != generator.in_channels:
            raise ValueError(f"{direction or self.direction} translation takes {generator.in_channels}-channel images, got {images.shape[1]}")
        return generator(images)

    def export_generator(self, direction: str | None = None) -> nn.Module:
        """`G` for `AtoB`, `F` for `BtoA` (default: the model's `direction`); their moving
        averages with ema_decay."""
        direction = direction or self.direction
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        return self.inference_net("G" if direction == "AtoB" else "F")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """Both directions, against the real images of the other domain; against the hidden true
        pairs too where the datamodule provides them (`B_true`, `A_true`)."""
        real_a, real_b = self.require(batch, "A", "B")
        return {
            "AtoB": EvalImages(fake=self.translate(real_a, "AtoB"), real=real_b, target=batch.get("B_true"), source=real_a),
            "BtoA": EvalImages(fake=self.translate(real_b, "BtoA"), real=real_a, target=batch.get("A_true"), source=real_b),
        }

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        real_a, real_b = self.require(batch, "A", "B")
        G, F = self.inference_net("G"), self.inference_net("F")
        fake_b, fake_a = G(real_a), F(real_b)
        return {"A": real_a, "G(A)": fake_b, "F(G(A))": F(fake_b), "B": real_b, "F(B)": fake_a, "G(F(B))": G(fake_a)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        save_pools(self._trainer, checkpoint, {"A": self.pool_A, "B": self.pool_B})

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        load_pools(self._trainer, checkpoint, {"A": self.pool_A, "B": self.pool_B})
