"""AsymGAN: unpaired translation between an information-rich domain X and a poor one Y, with an
auxiliary variable z for what X -> Y drops (Li et al., "Asymmetric GAN for Unpaired Image-to-Image
Translation", IEEE TIP 2019). No official code exists: this follows the paper (Sec. III-IV) and
documents each choice it leaves open."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import l1_loss

from i2i_zoo.distributed import gather_per_rank, own_rank_state
from i2i_zoo.losses import GANLoss, total_variation
from i2i_zoo.losses.perceptual import PerceptualLoss, load_perceptual_loss
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen
from i2i_zoo.methods.image_pool import ImagePool
from i2i_zoo.methods.optimizers import OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.nets import PatchGANDiscriminator, init_weights
from i2i_zoo.nets.asymgan import Z_INJECTIONS, AuxiliaryEncoder, AuxiliaryGenerator, LatentDiscriminator
from i2i_zoo.nets.resnet_generator import ResnetGenerator

VARIANTS = ("wo_ex", "ext")
DIRECTIONS = ("XtoY", "YtoX")
DOMAINS = ("A", "B")


class AsymGAN(I2IMethod):
    """G: X -> Y; E: X -> z (what G drops); F: (Y, z) -> X; discriminators D_X, D_Y (70x70
    PatchGANs) and D_Z (z against samples of N(0, I)). LSGAN throughout.

    Generator step (G, E and F together), the paper's Eq. 12 ("Ours-w/o-ex"):
    `G_GAN` + `F_GAN` + lambda1 `E_GAN` + lambda2 `cycle_X` ||F(G(x), E(x)) - x||_1 + lambda3
    `cycle_Y` ||G(F(y, z)) - y||_1 + lambda4 `cycle_z` ||E(F(y, z)) - z||_1, with z ~ N(0, I).
    The extension version (Eq. 19, `variant: ext`) adds lambda5 `F_GAN_Gx` (D_X on F(G(x), z)),
    lambda6 `F_GAN_Ex` (D_X on F(y, E(x))), lambda7 `content` (VGG features of F(y, E(x)) against
    y's), lambda8 `style` (Gram matrices of F(y, E(x)) against x's) and lambda9 `tv` (mean squared
    neighbour differences over the six synthesised images; the minus sign printed in Eq. 18 is a
    typo). Then the discriminator step: D_X on x against pooled F(y, z) (and, ext, F(G(x), z) and
    F(y, E(x))), D_Y on y against pooled G(x), D_Z on z ~ N(0, I) against E(x), each halved.

    WORK IN PROGRESS (issue 19): not registered, no recipes or docs yet.
    """

    inference_options = ("direction",)
    generator_names = ("G", "E", "F")

    def __init__(
        self,
        rich_domain: str = "A",
        channels_A: int = 3,
        channels_B: int = 3,
        image_size: int = 128,
        variant: str = "ext",
        z_injection: str | None = None,
        z_channels: int = 8,
        ngf: int = 64,
        ndf: int = 64,
        lambda1: float = 1.0,
        lambda2: float = 10.0,
        lambda3: float = 10.0,
        lambda4: float = 10.0,
        lambda5: float = 1.0,
        lambda6: float = 1.0,
        lambda7: float = 0.2,
        lambda8: float = 0.1,
        lambda9: float = 10.0,
        content_layer: str = "relu4_3",
        style_layers: list[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        vgg_weights: str | None = None,
        pool_size: int = 50,
        lr_g: float = 2e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: str = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        direction: str = "YtoX",
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        for name, value, choices in (("rich_domain", rich_domain, DOMAINS), ("variant", variant, VARIANTS), ("direction", direction, DIRECTIONS)):
            if value not in choices:
                raise ValueError(f"model.{name}={value!r} is unknown; choose one of {choices}")
        # The paper's pairings: Eq. 12 concatenates a z map in F's middle, Eq. 19 conditions F's
        # middle blocks on an 8-dim z through CIN.
        z_injection = z_injection or ("concat" if variant == "wo_ex" else "cin")
        if z_injection not in Z_INJECTIONS:
            raise ValueError(f"model.z_injection={z_injection!r} is unknown; choose one of {Z_INJECTIONS}")
        self.schedule = policy_schedule(lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)
        self.save_hyperparameters()
        channels_X, channels_Y = (channels_A, channels_B) if rich_domain == "A" else (channels_B, channels_A)
        z_map = z_injection == "concat"
        self.G = ResnetGenerator(channels_X, channels_Y, ngf, n_blocks=6)
        self.E = AuxiliaryEncoder(channels_X, ngf, z_channels, z_map)
        self.F = AuxiliaryGenerator(channels_Y, channels_X, ngf, 6, z_channels, z_injection)
        if image_size % self.F.size_multiple:
            raise ValueError(f"AsymGAN needs image sides that are multiples of {self.F.size_multiple}; model.image_size is {image_size}")
        self.D_X = PatchGANDiscriminator(channels_X, ndf, 3, "instance")
        self.D_Y = PatchGANDiscriminator(channels_Y, ndf, 3, "instance")
        self.D_Z = LatentDiscriminator(z_channels, z_map, ndf=ndf)
        for net in (self.G, self.E, self.F, self.D_X, self.D_Y, self.D_Z):
            init_weights(net, "normal", 0.02)
        self.gan_loss = GANLoss("lsgan")
        self.rich_domain, self.variant, self.direction = rich_domain, variant, direction
        self.lambdas = {f"lambda{k}": value for k, value in enumerate(
            (lambda1, lambda2, lambda3, lambda4, lambda5, lambda6, lambda7, lambda8, lambda9), start=1)}  # fmt: skip
        self.content_layer, self.style_layers, self.vgg_weights = content_layer, list(style_layers), vgg_weights
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.pool_X, self.pool_Y = ImagePool(pool_size), ImagePool(pool_size)
        # The VGG stays out of the module (and its checkpoints); loaded at fit start when used.
        self.perceptual: PerceptualLoss | None = None
        self.init_ema()

    # ------------------------------------------------------------------ set-up
    def _uses_vgg(self) -> bool:
        return self.variant == "ext" and (self.lambdas["lambda7"] > 0 or self.lambdas["lambda8"] > 0)

    def on_fit_start(self) -> None:
        if self._uses_vgg() and self.perceptual is None:
            self.perceptual = load_perceptual_loss([self.content_layer], self.style_layers, vgg_weights=self.vgg_weights)
        super().on_fit_start()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        generators = [*self.G.parameters(), *self.E.parameters(), *self.F.parameters()]
        discriminators = [*self.D_X.parameters(), *self.D_Y.parameters(), *self.D_Z.parameters()]
        return adam_pair(generators, discriminators, self.lr_g, self.lr_d, self.betas, self.schedule)

    # ------------------------------------------------------------------ training
    def domains(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(x, y): the rich and the poor domain's images of a batch."""
        real_a, real_b = self.require(batch, "A", "B")
        return (real_a, real_b) if self.rich_domain == "A" else (real_b, real_a)

    def sample_z(self, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I) in E's output shape for images `like`."""
        shape = (len(like), self.E.z_channels, *[s // 8 for s in like.shape[-2:]]) if self.E.z_map else (len(like), self.E.z_channels)
        return torch.randn(shape, device=like.device, generator=generator)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, y = self.domains(batch)
        l = self.lambdas
        z = self.sample_z(x)
        fake_y, code = self.G(x), self.E(x)
        fake_x = self.F(y, z)
        synthesised = {"G(x)": fake_y, "F(y,z)": fake_x}
        with frozen(self.D_X, self.D_Y, self.D_Z):
            terms = {
                "G_GAN": self.gan_loss.g(self.D_Y(fake_y)),
                "F_GAN": self.gan_loss.g(self.D_X(fake_x)),
                "E_GAN": l["lambda1"] * self.gan_loss.g(self.D_Z(code)),
            }
            rebuilt_x, rebuilt_y = self.F(fake_y, code), self.G(fake_x)
            synthesised |= {"F(G(x),E(x))": rebuilt_x, "G(F(y,z))": rebuilt_y}
            terms |= {
                "cycle_X": l["lambda2"] * l1_loss(rebuilt_x, x),
                "cycle_Y": l["lambda3"] * l1_loss(rebuilt_y, y),
                "cycle_z": l["lambda4"] * l1_loss(self.E(fake_x), z),
            }
            if self.variant == "ext":
                fake_x_from_g, fake_x_with_code = self.F(fake_y, self.sample_z(x)), self.F(y, code)
                synthesised |= {"F(G(x),z)": fake_x_from_g, "F(y,E(x))": fake_x_with_code}
                terms["F_GAN_Gx"] = l["lambda5"] * self.gan_loss.g(self.D_X(fake_x_from_g))
                terms["F_GAN_Ex"] = l["lambda6"] * self.gan_loss.g(self.D_X(fake_x_with_code))
                if self._uses_vgg():
                    content, style = self.perceptual(fake_x_with_code, content_target=y, style_target=x)
                    terms["content"], terms["style"] = l["lambda7"] * content, l["lambda8"] * style
                terms["tv"] = l["lambda9"] * sum(total_variation(image, power=2, reduction="mean") for image in synthesised.values())
        self.optimize("G", sum(terms.values()), terms)

        fakes_x = [self.pool_X.query(fake_x.detach())]
        if self.variant == "ext":
            fakes_x += [synthesised["F(G(x),z)"].detach(), synthesised["F(y,E(x))"].detach()]
        loss_D_X = 0.5 * (self.gan_loss.d_real(self.D_X(x)) + sum(self.gan_loss.d_fake(self.D_X(f)) for f in fakes_x) / len(fakes_x))
        loss_D_Y = 0.5 * (self.gan_loss.d_real(self.D_Y(y)) + self.gan_loss.d_fake(self.D_Y(self.pool_Y.query(fake_y.detach()))))
        loss_D_Z = 0.5 * (self.gan_loss.d_real(self.D_Z(self.sample_z(x))) + self.gan_loss.d_fake(self.D_Z(code.detach())))
        self.optimize("D", loss_D_X + loss_D_Y + loss_D_Z, {"D_X": loss_D_X, "D_Y": loss_D_Y, "D_Z": loss_D_Z})

    # ------------------------------------------------------------------ inference
    def translate(self, images: Tensor, direction: str | None = None, z: Tensor | None = None,
                  reference: Tensor | None = None, seed: int | None = None) -> Tensor:  # fmt: skip
        """X -> Y with G (`XtoY`); Y -> X with F and z given, E(reference), or drawn (seeded)."""
        direction = direction or self.direction
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        if direction == "XtoY":
            return self.inference_net("G")(images)
        if z is None:
            if reference is not None:
                z = self.inference_net("E")(reference).expand(len(images), *([-1] * (self.E.z_map and 3 or 1)))
            else:
                generator = None if seed is None else torch.Generator(images.device).manual_seed(seed)
                z = self.sample_z(images, generator)
        return self.inference_net("F")(images, z)

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        x, y = self.domains(batch)
        true_x, true_y = (batch.get("A_true"), batch.get("B_true")) if self.rich_domain == "A" else (batch.get("B_true"), batch.get("A_true"))
        groups = {
            "XtoY": EvalImages(fake=self.translate(x, "XtoY"), real=y, target=true_y),
            "YtoX": EvalImages(fake=self.translate(y, "YtoX", seed=0), real=x, target=true_x),
        }
        if true_x is not None:
            # F(y, E(x_true)): the photo's own code should rebuild it.
            groups["YtoX_encoded"] = EvalImages(fake=self.inference_net("F")(y, self.inference_net("E")(true_x)), target=true_x)
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        x, y = self.domains(batch)
        fake_y = self.translate(x, "XtoY")
        return {"x": x, "G(x)": fake_y, "F(G(x),E(x))": self.inference_net("F")(fake_y, self.inference_net("E")(x)),
                "y": y, "F(y,z)": self.translate(y, "YtoX", seed=0)}  # fmt: skip

    # The pools are training state: a resumed run continues with the same history.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["i2i_zoo"]["pools"] = gather_per_rank(self._trainer, {"X": self.pool_X.state_dict(), "Y": self.pool_Y.state_dict()})

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        pools = checkpoint.get("i2i_zoo", {}).get("pools")
        pools = own_rank_state(self._trainer, pools, "image pools") if pools else None
        if pools:
            self.pool_X.load_state_dict(pools["X"])
            self.pool_Y.load_state_dict(pools["Y"])
