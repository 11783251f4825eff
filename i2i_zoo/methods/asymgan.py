"""AsymGAN: unpaired translation between an information-rich domain X and a poor one Y, with an
auxiliary variable z for what X -> Y drops (Li et al., "Asymmetric GAN for Unpaired Image-to-Image
Translation", IEEE TIP 2019). No official code exists: this follows the paper (Sec. III-IV) and
documents each choice it leaves open (docs/methods/asymgan.md)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.functional import l1_loss

from i2i_zoo.losses import GANLoss, total_variation
from i2i_zoo.losses.perceptual import PerceptualLoss, load_perceptual_loss
from i2i_zoo.methods.base import EvalImages, I2IMethod, file_seed, frozen, translate_any_size
from i2i_zoo.methods.image_pool import ImagePool, load_pools, save_pools
from i2i_zoo.methods.optimizers import LrPolicy, OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.nets import PatchGANDiscriminator, init_weights
from i2i_zoo.nets.asymgan import (
    MIN_Z_MAP_SIDE,
    Z_INJECTIONS,
    ZInjection,
    AuxiliaryEncoder,
    AuxiliaryGenerator,
    FixedLatentGenerator,
    LatentDiscriminator,
)
from i2i_zoo.nets.resnet_generator import ResnetGenerator

VARIANTS = ("wo_ex", "ext")
DIRECTIONS = ("XtoY", "YtoX")
DOMAINS = ("A", "B")
# The extension terms of Eq. 19, by their weights.
EXTENSION_LAMBDAS = ("lambda5", "lambda6", "lambda7", "lambda8", "lambda9")
Variant = Literal[VARIANTS]
Direction = Literal[DIRECTIONS]
Domain = Literal[DOMAINS]


class AsymGAN(I2IMethod):
    """G: X -> Y; E: X -> z (what G drops); F: (Y, z) -> X; discriminators D_X, D_Y (70x70
    PatchGANs) and D_Z (z against samples of N(0, I)). LSGAN throughout.

    Generator step (G, E and F together), the paper's Eq. 12 ("Ours-w/o-ex"), with z ~ N(0, I):
    `G_GAN` + `F_GAN` + lambda1 `E_GAN` + lambda2 `cycle_X` ||F(G(x), E(x)) - x||_1 + lambda3
    `cycle_Y` ||G(F(y, z)) - y||_1 + lambda4 `cycle_z` ||E(F(y, z)) - z||_1.
    The extension version (Eq. 19, `variant: ext`) adds lambda5 `F_GAN_Gx` (D_X on F(G(x), z'),
    another draw z'), lambda6 `F_GAN_Ex` (D_X on F(y, E(x))), lambda7 `content` (VGG features of
    F(y, E(x)) against y's), lambda8 `style` (Gram matrices of F(y, E(x)) against x's) and lambda9
    `tv` (mean squared neighbour differences over the six synthesised images; the minus sign
    printed in Eq. 18 is a typo).

    Discriminator step: each adversarial term of the objective is a min-max game, so D maximises
    the same weighted sum: `D_X` = 0.5 * [L(x, pooled F(y, z)) + lambda5 L(x, F(G(x), z')) +
    lambda6 L(x, F(y, E(x)))], `D_Y` = 0.5 * L(y, pooled G(x)), `D_Z` = 0.5 * lambda1 L(z ~ N(0, I),
    E(x)), L the LSGAN real + fake terms (the 0.5 is CycleGAN's). The extension fakes skip the
    pool, which the paper describes for the plain fakes only (our reading).

    Args:
        rich_domain: which data folder is X, the information-rich domain (photos): `A` or `B`.
        channels_A: channels of domain A images (linked from the datamodule).
        channels_B: channels of domain B images (linked from the datamodule).
        image_size: training crop size (linked from the datamodule); a multiple of 8, and at least
            64 for the concat injection (D_Z's PatchGAN needs an 8x8 z map).
        variant: `ext` (the paper's "Ours", Eq. 19) or `wo_ex` ("Ours-w/o-ex", Eq. 12: the
            extension terms lambda5..lambda9 are not computed).
        z_injection: `concat` (a z map concatenated after F's third residual block, Eq. 12's),
            `decoder_concat` (a z vector concatenated to every decoder input, Fig. 12) or `cin`
            (conditional instance norm in F's middle three blocks, the extension's); default:
            `concat` for wo_ex, `cin` for ext.
        z_channels: channels of the z map, or dimensions of the z vector (the paper's 8).
        ngf: generators' and E's filters in the first layer.
        ndf: discriminators' filters in the first layer.
        lambda1: weight of E's adversarial loss against D_Z.
        lambda2: weight of the X cycle ||F(G(x), E(x)) - x||_1.
        lambda3: weight of the Y cycle ||G(F(y, z)) - y||_1.
        lambda4: weight of the z cycle ||E(F(y, z)) - z||_1.
        lambda5: weight of D_X's judgement of F(G(x), z) (ext).
        lambda6: weight of D_X's judgement of F(y, E(x)) (ext).
        lambda7: weight of the content loss of F(y, E(x)) against y (ext; needs the VGG).
        lambda8: weight of the Gram style loss of F(y, E(x)) against x (ext; needs the VGG).
        lambda9: weight of the total variation of the six synthesised images (ext).
        content_layer: the VGG layer of the content loss (our choice; the paper names none).
        style_layers: the VGG layers of the style loss (our choice).
        vgg_architecture: `vgg16` or `vgg19`.
        vgg_weights: torchvision ImageNet VGG weights (.pth), needed when lambda7 or lambda8 > 0;
            else ${I2I_ZOO_VGG_WEIGHTS} or torch hub's cache. Loaded at fit start, never stored in
            checkpoints. In Python, set `model.perceptual` to a `PerceptualLoss` of any feature
            extractor before fit to use it instead.
        pool_size: generated images each of D_X, D_Y also learns from (0: none).
        lr_g: learning rate of G, E and F (the paper's 2e-4).
        lr_d: learning rate of D_X, D_Y and D_Z (the paper's 1e-4).
        betas: Adam betas (the paper does not give them; CycleGAN's).
        lr_policy: `linear` (constant for n_epochs, then linear decay over n_epochs_decay) or `constant`.
        n_epochs: epochs at the initial learning rate.
        n_epochs_decay: epochs of linear decay to zero.
        direction: the translation `translate`, predict and export use by default.
        predict_seed: predict's z for an input is drawn from a generator seeded with (predict_seed,
            the input's file name, the sample): the same output whatever the batch.
        predict_samples: predict (YtoX) writes this many translations of each input, side by side.
        ema_decay: decay of moving averages `G_ema`, `E_ema`, `F_ema` that then translate; 0 (the
            paper's): none.
        ema_start: iterations before which the averages copy the networks.
    """

    inference_options = ("direction", "predict_seed", "predict_samples")
    generator_names = ("G", "E", "F")

    def __init__(
        self,
        rich_domain: Domain = "A",
        channels_A: int = 3,
        channels_B: int = 3,
        image_size: int = 128,
        variant: Variant = "ext",
        z_injection: ZInjection | None = None,
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
        vgg_architecture: str = "vgg16",
        vgg_weights: str | None = None,
        pool_size: int = 50,
        lr_g: float = 2e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: LrPolicy = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        direction: Direction = "YtoX",
        predict_seed: int = 0,
        predict_samples: int = 1,
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
        if predict_samples < 1:
            raise ValueError(f"model.predict_samples={predict_samples} must be at least 1")
        self.schedule = policy_schedule(lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)
        self.save_hyperparameters()
        channels_X, channels_Y = (channels_A, channels_B) if rich_domain == "A" else (channels_B, channels_A)
        z_map = z_injection == "concat"
        self.G = ResnetGenerator(channels_X, channels_Y, ngf, n_blocks=6)
        self.E = AuxiliaryEncoder(channels_X, ngf, z_channels, z_map)
        self.F = AuxiliaryGenerator(channels_Y, channels_X, ngf, 6, z_channels, z_injection)
        if image_size % self.F.size_multiple:
            raise ValueError(f"AsymGAN needs image sides that are multiples of {self.F.size_multiple}; model.image_size is {image_size}")
        if z_map and image_size // 8 < MIN_Z_MAP_SIDE:
            raise ValueError(
                f"z_injection=concat gives a z map of image_size/8 = {image_size // 8} pixels, smaller than the "
                f"{MIN_Z_MAP_SIDE} D_Z's PatchGAN needs: use model.image_size >= {8 * MIN_Z_MAP_SIDE} or a z vector "
                "(z_injection cin or decoder_concat)"
            )
        self.D_X = PatchGANDiscriminator(channels_X, ndf, 3, "instance")
        self.D_Y = PatchGANDiscriminator(channels_Y, ndf, 3, "instance")
        self.D_Z = LatentDiscriminator(z_channels, z_map, ndf=ndf)
        for net in (self.G, self.E, self.F, self.D_X, self.D_Y):
            init_weights(net, "normal", 0.02)
        self.F.reset_z_layers()
        if z_map:
            init_weights(self.D_Z, "normal", 0.02)
        # An MLP D_Z keeps PyTorch's default initialisation: N(0, 0.02) weights make its output ~1e-4
        # of z's scale, so it barely learns at lr 1e-4 (measured: E_GAN stayed at 1.0).
        self.gan_loss = GANLoss("lsgan")
        self.rich_domain, self.variant, self.direction = rich_domain, variant, direction
        self.lambdas = {f"lambda{k}": value for k, value in enumerate(
            (lambda1, lambda2, lambda3, lambda4, lambda5, lambda6, lambda7, lambda8, lambda9), start=1)}  # fmt: skip
        if variant == "wo_ex":
            self.lambdas |= dict.fromkeys(EXTENSION_LAMBDAS, 0.0)
        self.content_layer, self.style_layers = content_layer, list(style_layers)
        self.vgg_architecture, self.vgg_weights = vgg_architecture, vgg_weights
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.predict_seed, self.predict_samples = predict_seed, predict_samples
        self.pool_X, self.pool_Y = ImagePool(pool_size), ImagePool(pool_size)
        # Not a submodule: the VGG stays out of state dicts and checkpoints; loaded at fit start.
        self.perceptual: PerceptualLoss | None = None
        self.init_ema()

    # ------------------------------------------------------------------ set-up
    @property
    def uses_vgg(self) -> bool:
        return self.lambdas["lambda7"] > 0 or self.lambdas["lambda8"] > 0

    def on_fit_start(self) -> None:
        if self.uses_vgg and self.perceptual is None:
            # Before any training: a missing weights file stops the run with its location.
            self.perceptual = load_perceptual_loss([self.content_layer], self.style_layers, self.vgg_architecture, self.vgg_weights)
        super().on_fit_start()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        generators = [*self.G.parameters(), *self.E.parameters(), *self.F.parameters()]
        discriminators = [*self.D_X.parameters(), *self.D_Y.parameters(), *self.D_Z.parameters()]
        return adam_pair(generators, discriminators, self.lr_g, self.lr_d, self.betas, self.schedule)

    @property
    def size_multiple(self) -> int:
        return self.F.size_multiple

    def input_channels(self) -> int:
        return (self.G if self.direction == "XtoY" else self.F).in_channels

    # ------------------------------------------------------------------ training
    def domains(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(x, y): the rich and the poor domain's images of a batch."""
        real_a, real_b = self.require(batch, "A", "B")
        return (real_a, real_b) if self.rich_domain == "A" else (real_b, real_a)

    def sample_z(self, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I) in E's output shape for images `like`: (N, z_channels) or, for the concat
        injection, (N, z_channels, H/8, W/8)."""
        shape = (len(like), self.E.z_channels, *[s // 8 for s in like.shape[-2:]]) if self.E.z_map else (len(like), self.E.z_channels)
        return torch.randn(shape, device=like.device, generator=generator)

    def generator_terms(self, x: Tensor, y: Tensor, z: Tensor, z_other: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The weighted terms of the generator objective (Eq. 12, plus Eq. 19's extension terms
        whose lambdas are not 0) for z, the draw F(y, z) uses, and z_other, F(G(x), z')'s; and
        the synthesised images by name, for the discriminator step."""
        l = self.lambdas
        fake_y, code, fake_x = self.G(x), self.E(x), self.F(y, z)
        rebuilt_x, rebuilt_y = self.F(fake_y, code), self.G(fake_x)
        synthesised = {"G(x)": fake_y, "E(x)": code, "F(y,z)": fake_x, "F(G(x),E(x))": rebuilt_x, "G(F(y,z))": rebuilt_y}
        with frozen(self.D_X, self.D_Y, self.D_Z):
            terms = {
                "G_GAN": self.gan_loss.g(self.D_Y(fake_y)),
                "F_GAN": self.gan_loss.g(self.D_X(fake_x)),
                "E_GAN": l["lambda1"] * self.gan_loss.g(self.D_Z(code)),
                "cycle_X": l["lambda2"] * l1_loss(rebuilt_x, x),
                "cycle_Y": l["lambda3"] * l1_loss(rebuilt_y, y),
                "cycle_z": l["lambda4"] * l1_loss(self.E(fake_x), z),
            }
            if l["lambda5"] > 0 or l["lambda9"] > 0:
                synthesised["F(G(x),z)"] = fake_x_from_g = self.F(fake_y, z_other)
            if l["lambda6"] > 0 or self.uses_vgg or l["lambda9"] > 0:
                synthesised["F(y,E(x))"] = fake_x_with_code = self.F(y, code)
            if l["lambda5"] > 0:
                terms["F_GAN_Gx"] = l["lambda5"] * self.gan_loss.g(self.D_X(fake_x_from_g))
            if l["lambda6"] > 0:
                terms["F_GAN_Ex"] = l["lambda6"] * self.gan_loss.g(self.D_X(fake_x_with_code))
        if self.uses_vgg:
            content, style = self.perceptual(fake_x_with_code, content_target=y, style_target=x)
            terms["content"], terms["style"] = l["lambda7"] * content, l["lambda8"] * style
        if l["lambda9"] > 0:
            images = [image for name, image in synthesised.items() if name != "E(x)"]
            terms["tv"] = l["lambda9"] * sum(total_variation(image, power=2, reduction="mean") for image in images)
        return terms, synthesised

    def discriminator_terms(self, x: Tensor, y: Tensor, synthesised: dict[str, Tensor]) -> dict[str, Tensor]:
        """D_X, D_Y and D_Z's losses on detached fakes (the plain ones through the pools)."""
        l = self.lambdas
        weighted_fakes = [(1.0, self.pool_X.query(synthesised["F(y,z)"].detach()))]
        if l["lambda5"] > 0:
            weighted_fakes.append((l["lambda5"], synthesised["F(G(x),z)"].detach()))
        if l["lambda6"] > 0:
            weighted_fakes.append((l["lambda6"], synthesised["F(y,E(x))"].detach()))
        real_x = self.gan_loss.d_real(self.D_X(x))
        loss_D_X = 0.5 * sum(weight * (real_x + self.gan_loss.d_fake(self.D_X(fake))) for weight, fake in weighted_fakes)
        loss_D_Y = 0.5 * (self.gan_loss.d_real(self.D_Y(y)) + self.gan_loss.d_fake(self.D_Y(self.pool_Y.query(synthesised["G(x)"].detach()))))
        code = synthesised["E(x)"].detach()
        loss_D_Z = 0.5 * l["lambda1"] * (self.gan_loss.d_real(self.D_Z(self.sample_z(x))) + self.gan_loss.d_fake(self.D_Z(code)))
        return {"D_X": loss_D_X, "D_Y": loss_D_Y, "D_Z": loss_D_Z}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, y = self.domains(batch)
        terms, synthesised = self.generator_terms(x, y, self.sample_z(y), self.sample_z(y))
        self.optimize("G", sum(terms.values()), terms)
        terms_D = self.discriminator_terms(x, y, synthesised)
        self.optimize("D", sum(terms_D.values()), terms_D)

    # ------------------------------------------------------------------ inference
    def translate(self, images: Tensor, direction: str | None = None, z: Tensor | None = None, reference: Tensor | None = None,
                  n_samples: int = 1, seed: int | None = None) -> Tensor:  # fmt: skip
        """X -> Y (`XtoY`) with G; Y -> X (`YtoX`) with F and z: the given `z` (E's output shape,
        one for all images or one each), E(`reference`) (one rich-domain image for all, or one
        each), or else drawn from N(0, I) (from `seed` when given). `n_samples` k > 1 draws k
        z per image and returns (N, k, C, H, W)."""
        direction = direction or self.direction
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        net = self.inference_net("G" if direction == "XtoY" else "F")
        if images.shape[1] != net.in_channels:
            raise ValueError(f"{direction} translation takes {net.in_channels}-channel images, got {images.shape[1]}")
        if direction == "XtoY":
            return net(images)
        if n_samples < 1 or (n_samples > 1 and (z is not None or reference is not None)):
            raise ValueError(f"n_samples={n_samples}: give a positive count, and more than 1 only when z is drawn (no z, no reference)")
        if z is None and reference is not None:
            z = self.encode(reference)
        if z is None:
            generator = None if seed is None else torch.Generator(images.device).manual_seed(seed)
            samples = self.sample_z(images.repeat_interleave(n_samples, 0), generator)
            outputs = net(images.repeat_interleave(n_samples, 0), samples)
            return outputs if n_samples == 1 else outputs.unflatten(0, (len(images), n_samples))
        return net(images, self._batch_z(z.to(images.device), images))

    def encode(self, images: Tensor) -> Tensor:
        """z = E(x) of rich-domain images x."""
        return self.inference_net("E")(images)

    def interpolate(self, images: Tensor, z_start: Tensor, z_end: Tensor, steps: int = 5) -> Tensor:
        """F(y, z) along the straight line from z_start to z_end (each one z, or one per image):
        (N, steps, C, H, W)."""
        if steps < 2:
            raise ValueError(f"steps={steps} must be at least 2 (both ends)")
        z_start, z_end = self._batch_z(z_start, images), self._batch_z(z_end, images)
        return torch.stack([self.translate(images, "YtoX", z=torch.lerp(z_start, z_end, t)) for t in torch.linspace(0, 1, steps).tolist()], 1)

    def _batch_z(self, z: Tensor, images: Tensor) -> Tensor:
        """z with one row per image: a single z (with or without its batch dimension) is repeated."""
        expected = self.sample_z(images[:1]).shape[1:]
        if z.shape == expected:
            z = z.unsqueeze(0)
        if z.shape[1:] != expected or len(z) not in (1, len(images)):
            raise ValueError(
                f"z for {len(images)} images of {tuple(images.shape[-2:])} must have shape {tuple(expected)} (one for all) or "
                f"({len(images)}, {', '.join(map(str, expected))}), got {tuple(z.shape)}"
            )
        return z.expand(len(images), *expected)

    def export_generator(self, direction: str | None = None, z: Tensor | list | None = None, seed: int | None = None) -> nn.Module:
        """`XtoY`: G. `YtoX`: F with z fixed: the given z (a list of z_channels numbers, or a
        z_channels x h x w map for the concat injection, resized to each input's side / 8), else
        drawn from `seed` (default: predict_seed)."""
        direction = direction or self.direction
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        if direction == "XtoY":
            return self.inference_net("G")
        side = self.hparams.image_size
        like = torch.zeros(1, 1, side, side, device=self.device)
        if z is None:
            z = self.sample_z(like, torch.Generator(self.device).manual_seed(self.predict_seed if seed is None else seed))
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        expected = (self.E.z_channels,) if not self.E.z_map else (self.E.z_channels, None, None)
        if z.dim() == len(expected) + 1 and len(z) == 1:
            z = z[0]
        if z.dim() != len(expected) or z.shape[0] != self.E.z_channels:
            shape = "z_channels numbers" if not self.E.z_map else "a z_channels x h x w map"
            raise ValueError(f"z must be {shape} (z_channels={self.E.z_channels}), got shape {tuple(z.shape)}")
        return FixedLatentGenerator(self.inference_net("F"), z)

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        """XtoY: G's translations. YtoX: F with z = E(reference) where predict has one
        (data.predict_reference), else `predict_samples` translations side by side, each z drawn
        from (predict_seed, the file's name, the sample)."""
        if self.direction == "XtoY":
            return super().predict_images(batch)
        (images,) = self.require(batch, "image")
        if "reference" in batch:
            reference = batch["reference"]
            return translate_any_size(lambda y: self.translate(y, reference=_pad_like(reference, y)), images, self.size_multiple)
        names = batch.get("path") or [str(k) for k in range(len(images))]

        def translate_sample(y: Tensor, sample: int) -> Tensor:
            generators = [torch.Generator(y.device).manual_seed(file_seed(self.predict_seed, f"{name}#{sample}")) for name in names]
            return self.translate(y, z=torch.cat([self.sample_z(y[:1], generator) for generator in generators]))

        samples = [translate_any_size(lambda y: translate_sample(y, k), images, self.size_multiple) for k in range(self.predict_samples)]
        return torch.cat(samples, dim=-1)

    # ------------------------------------------------------------------ evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """`XtoY` G(x) against y (and the true y); `YtoX` F(y, z), z drawn (evaluation's seeded
        RNG), against x (and the true x); with the hidden true pairs, `YtoX_encoded` F(y,
        E(x_true)): the photo's own code should rebuild it."""
        x, y = self.domains(batch)
        true_x, true_y = (batch.get("A_true"), batch.get("B_true")) if self.rich_domain == "A" else (batch.get("B_true"), batch.get("A_true"))
        groups = {
            "XtoY": EvalImages(fake=self.translate(x, "XtoY"), real=y, target=true_y, source=x),
            "YtoX": EvalImages(fake=self.translate(y, "YtoX"), real=x, target=true_x, source=y),
        }
        if true_x is not None:
            groups["YtoX_encoded"] = EvalImages(fake=self.translate(y, "YtoX", reference=true_x), real=x, target=true_x, source=y)
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        x, y = self.domains(batch)
        fake_y = self.translate(x, "XtoY")
        samples = self.translate(y, "YtoX", n_samples=2, seed=0)
        return {"x": x, "G(x)": fake_y, "F(G(x),E(x))": self.translate(fake_y, "YtoX", reference=x),
                "y": y, "F(y,z1)": samples[:, 0], "F(y,z2)": samples[:, 1]}  # fmt: skip

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        save_pools(self._trainer, checkpoint, {"X": self.pool_X, "Y": self.pool_Y})

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        load_pools(self._trainer, checkpoint, {"X": self.pool_X, "Y": self.pool_Y})


def _pad_like(reference: Tensor, padded: Tensor) -> Tensor:
    """The reference (resized to its input's size by the data) padded to the size predict padded
    the input to, so a z map of it matches."""
    pad_h, pad_w = padded.shape[-2] - reference.shape[-2], padded.shape[-1] - reference.shape[-1]
    return torch.nn.functional.pad(reference, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else reference
