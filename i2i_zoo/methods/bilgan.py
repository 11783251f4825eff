"""BiL-GAN: biphasic learning for high-resolution multi-domain translation (Cao et al., "Biphasic
Learning of GANs for High-Resolution Image-to-Image Translation", 2019). No code was published
and the paper's layer details are unavailable: this follows the paper and documents each choice
it leaves open (docs/methods/bilgan.md)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.losses import (
    GANLoss,
    MutualInformationLoss,
    domain_classification_loss,
    importance_weight,
    inherited_d_loss,
    inherited_g_loss,
    load_identity_encoder,
    teacher_scores,
)
from i2i_zoo.losses.classification import LABEL_TYPES, LabelType
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen, translate_any_size
from i2i_zoo.methods.domain_labels import DomainLabels, Target
from i2i_zoo.methods.optimizers import OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.methods.phases import Phase
from i2i_zoo.nets import FixedLabelGenerator, SRResNet, StarGANDiscriminator, StarGANGenerator
from i2i_zoo.nets.bilgan import HighResolutionTranslator, LowResolutionTranslator, UVRegressor, downsample

GAN_MODES = ("lsgan", "vanilla")
IMPORTANCE_INPUTS = ("fake", "real")
IDENTITY_LOSSES = ("mi", "cycle", "none")
BiLGANGanMode = Literal[GAN_MODES]
ImportanceInput = Literal[IMPORTANCE_INPUTS]
IdentityLoss = Literal[IDENTITY_LOSSES]


class BiLGAN(DomainLabels, I2IMethod):
    """Phase 1 (iterations before `phase2_start`) trains G1 (StarGAN's generator) at `low_size`
    against T (StarGAN's discriminator, whose classification head is the attribute classifier
    D^a) and, with `uv_channels` > 0, the UV regressor D^uv. Phase 2 adds G2 (an SRResNet upscaling
    G1's output to `image_size`) and a new discriminator D (T's structure with log2(scale) more
    stride-2 layers, so its map lines up with T's on downsampled images); T, D^a and D^uv are
    frozen teachers (eval mode, no gradients, no updates) and G1 keeps training.

    Each step, as in the paper (all weights 1; LSGAN by default, Sec. 3.4):
    - D step. Phase 1: `T_real` + `T_fake` (T's adversarial loss), `T_cls` (D^a on real images),
      `uv_real` (D^uv on real images). Phase 2: `D_inherited` (Eq. 4: the teacher's score T(x)
      replaces the real label of real images), or `D_real` + `D_fake` without the inherited loss.
    - G step. Phase 1: `G_fake`, `G_cls` (D^a classifies G1(x, c) as c), `G_uv` (D^uv finds x's UV
      map in the translation), `G_mi` (minus the InfoNCE mutual information of the identity
      features of input and output, Eq. 6-8) or `G_cycle`. Phase 2: the same on G(x, c) at
      full resolution, with `G_fake` the importance-weighted Eq. 5 and `G_cls`, `G_uv` from the
      frozen teachers on G(x, c) area-downsampled to `low_size`.

    Args:
        domains: the domain (exclusive) or attribute names, in label order (linked from the data).
        label_type: `attributes` (binary cross-entropy) or `exclusive` (cross-entropy).
        image_size: the final resolution, the data's (linked from the data).
        low_size: phase 1's resolution; image_size / low_size is G2's upscale factor (2, 4 or 8).
        g_conv_dim: G1's filters in the first layer.
        d_conv_dim: T's and D's filters in the first layer.
        g_repeat_num: G1's residual blocks.
        d_repeat_num: T's stride-2 convs (D has log2(scale) more).
        d_max_channels: cap of D's channels (its extra layers would double them further).
        g2_features: G2's filters.
        g2_blocks: G2's residual blocks.
        uv_channels: channels of the 3DMM UV maps batches carry as `uv`; 0: no D^uv (the paper
            leaves it out for changes of geometry, e.g. expressions).
        gan_mode: `lsgan` (the paper's experiments) or `vanilla` (Eq. 4/5 exactly as printed).
        importance_input: whose teacher score weighs G's phase-2 adversarial loss: `fake` (the
            translation: the text's "samples that are not good at deceiving the teacher") or `real`
            (the input x, as Eq. 5 prints T(x)).
        identity_loss: `mi` (mutual perceptual information), `cycle` (the paper's ablation: an L1
            cycle G(G(x, c), c_org) ~ x instead) or `none`.
        identity_encoder: phi of the MI term: `luma_thumbnail` (the demo's), `timm:<model>` or a
            class path (see i2i_zoo.losses.mutual_info.load_identity_encoder).
        identity_weights: phi's weights file (else ${I2I_ZOO_IDENTITY_WEIGHTS}); never random.
        lambda_adv: weight of the adversarial terms.
        lambda_cls: weight of the attribute terms.
        lambda_uv: weight of the UV terms.
        lambda_identity: weight of the MI or cycle term.
        phase2_start: the iteration the enhancing phase starts at.
        single_phase: the paper's ablation: G = G2 o G1 trained at image_size from the start with
            D alone (D's classification head is then D^a); T is unused.
        inherited_loss: phase 2's D learns from the teacher (Eq. 4/5); false: plain GAN losses.
        freeze_teachers: phase 2 freezes T, D^a and D^uv; false (the paper's "ordinary
            regularisation" ablation): they keep training on downsampled images.
        lr_g: learning rate of G1 and G2.
        lr_d: learning rate of T, D^uv and D.
        betas: Adam betas.
        predict_target: the target of `translate`, predict and export when none is given.
        ema_decay: decay of moving averages `G1_ema`, `G2_ema` that then translate; 0: none.
        ema_start: iterations before which the averages copy the generators.
    """

    inference_options = ("predict_target",)
    generator_names = ("G1", "G2")

    def __init__(
        self,
        domains: list[str] | None = None,
        label_type: LabelType = "attributes",
        image_size: int = 1024,
        low_size: int = 256,
        g_conv_dim: int = 64,
        d_conv_dim: int = 64,
        g_repeat_num: int = 6,
        d_repeat_num: int = 6,
        d_max_channels: int = 2048,
        g2_features: int = 64,
        g2_blocks: int = 16,
        uv_channels: int = 0,
        gan_mode: BiLGANGanMode = "lsgan",
        importance_input: ImportanceInput = "fake",
        identity_loss: IdentityLoss = "mi",
        identity_encoder: str | None = None,
        identity_weights: str | None = None,
        lambda_adv: float = 1.0,
        lambda_cls: float = 1.0,
        lambda_uv: float = 1.0,
        lambda_identity: float = 1.0,
        phase2_start: int = 100000,
        single_phase: bool = False,
        inherited_loss: bool = True,
        freeze_teachers: bool = True,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        predict_target: int | str | list[int] | list[str] | dict[str, float] | None = None,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        if not domains:
            raise ValueError("model.domains is required: the domain or attribute names in label order (linked from data.domains)")
        for name, value, choices in (("label_type", label_type, LABEL_TYPES), ("gan_mode", gan_mode, GAN_MODES),
                                     ("importance_input", importance_input, IMPORTANCE_INPUTS),
                                     ("identity_loss", identity_loss, IDENTITY_LOSSES)):  # fmt: skip
            if value not in choices:
                raise ValueError(f"model.{name}={value!r} is unknown; choose one of {choices}")
        scale = image_size // low_size
        if image_size % low_size or scale not in (2, 4, 8):
            raise ValueError(f"model.image_size={image_size} must be 2, 4 or 8 times model.low_size={low_size} (G2's upscale factor)")
        if phase2_start < 1 and not single_phase:
            raise ValueError(f"model.phase2_start={phase2_start} must be at least 1 (phase 1 trains the teachers); or set single_phase")
        if identity_loss == "mi" and lambda_identity > 0 and identity_encoder is None:
            raise ValueError(
                "identity_loss=mi needs model.identity_encoder (luma_thumbnail, timm:<model> with model.identity_weights, "
                "or a class path); or set identity_loss to cycle or none"
            )
        self.save_hyperparameters()
        self.domains, self.label_type = list(domains), label_type
        self.scale, self.low_size = scale, low_size
        k = len(self.domains)
        self.G1 = StarGANGenerator(3, k, g_conv_dim, g_repeat_num)
        if low_size % self.G1.size_multiple:
            raise ValueError(f"G1 needs sides that are multiples of {self.G1.size_multiple}; model.low_size is {low_size}")
        self.G2 = SRResNet(3, 3, scale, g2_features, g2_blocks, norm="none")
        # G2 adds a residual to G1's upsampled output: starting at zero, the switch keeps phase
        # 1's translation (measured on the demo: with G2 alone upscaling, from scratch, the tint
        # accuracy fell from 100% at the switch to 69-100% at the end).
        nn.init.zeros_(self.G2.tail[0].weight)
        nn.init.zeros_(self.G2.tail[0].bias)
        self.T = StarGANDiscriminator(low_size, 3, k, d_conv_dim, d_repeat_num)
        extra = scale.bit_length() - 1
        self.D = StarGANDiscriminator(image_size, 3, k, d_conv_dim, d_repeat_num + extra, max_channels=d_max_channels)
        self.D_uv = UVRegressor(3, uv_channels, d_conv_dim, d_repeat_num) if uv_channels else None
        self.gan_loss = GANLoss(gan_mode)
        self.gan_mode, self.importance_input, self.identity_loss = gan_mode, importance_input, identity_loss
        self.identity_encoder, self.identity_weights = identity_encoder, identity_weights
        self.lambda_adv, self.lambda_cls, self.lambda_uv, self.lambda_identity = lambda_adv, lambda_cls, lambda_uv, lambda_identity
        self.phase2_start, self.single_phase = phase2_start, single_phase
        self.inherited_loss, self.freeze_teachers = inherited_loss, freeze_teachers
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        self.predict_target = predict_target
        if predict_target is not None:
            self.target_labels(predict_target, 1)  # fail now on an unknown name
        # Not a submodule: phi stays out of state dicts and checkpoints; loaded at fit start.
        self.mutual_information: MutualInformationLoss | None = None
        self.init_ema()

    # ------------------------------------------------------------------ set-up
    def phases(self) -> list[Phase]:
        if self.single_phase:
            return [Phase("single", 0, {"T": "train"})]
        teachers = {"T": "eval", **({"D_uv": "eval"} if self.D_uv is not None else {})} if self.freeze_teachers else {}
        return [Phase("initial", 0, {"G2": "train", "D": "train"}), Phase("enhancing", self.phase2_start, teachers)]

    @property
    def enhancing(self) -> bool:
        """Whether G = G2 o G1 translates at full resolution (phase 2, or the single phase)."""
        return self.single_phase or self.iteration >= self.phase2_start

    @property
    def metric_namespace(self) -> str:
        # The two resolutions' scores are never compared: phase 2's are logged as val/phase2/...
        return "phase2/" if self.enhancing and not self.single_phase else ""

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.identity_loss == "mi" and self.lambda_identity > 0 and self.mutual_information is None:
            # Before any training: a missing weights file stops the run with its location.
            self.mutual_information = MutualInformationLoss(load_identity_encoder(self.identity_encoder, self.identity_weights))

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        discriminators = [*self.T.parameters(), *self.D.parameters(), *(self.D_uv.parameters() if self.D_uv is not None else [])]
        schedule = policy_schedule("constant")
        return adam_pair([*self.G1.parameters(), *self.G2.parameters()], discriminators, self.lr_g, self.lr_d, self.betas, schedule)

    @property
    def size_multiple(self) -> int:
        return self.scale * self.G1.size_multiple

    def input_channels(self) -> int:
        return 3

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, label_org = self.require(batch, "image", "label")
        self.check_labels(label_org)
        uv = batch.get("uv")
        if self.D_uv is not None and uv is None:
            raise KeyError(f"model.uv_channels={self.hparams.uv_channels} but the batch has no uv map: set data.uv_dir, or uv_channels to 0")
        label_trg = label_org[torch.randperm(len(label_org), device=label_org.device)]
        c_org, c_trg = self.label_vectors(label_org), self.label_vectors(label_trg)
        x_low = downsample(x, self.scale)
        if self.enhancing:
            self._enhancing_step(x, x_low, uv, label_org, label_trg, c_org, c_trg)
        else:
            self._initial_step(x_low, uv, label_org, label_trg, c_org, c_trg)

    def _initial_step(self, x_low, uv, label_org, label_trg, c_org, c_trg) -> None:
        fake = self.G1(x_low, c_trg)
        terms = self._critic_terms("T", x_low, fake.detach(), x_low, uv, label_org)
        self.optimize("D", sum(terms.values()), terms)
        with frozen(self.T, *self._uv_nets()):
            src, cls = self.T(fake)
            terms = {"G_fake": self.lambda_adv * self.gan_loss.g(src)}
            terms |= self._guidance_terms(cls, fake, uv, label_trg)
        terms |= self._identity_terms(x_low, fake, lambda images: self.G1(images, c_org))
        self.optimize("G", sum(terms.values()), terms)

    def _enhancing_step(self, x, x_low, uv, label_org, label_trg, c_org, c_trg) -> None:
        G = HighResolutionTranslator(self.G1, self.G2, self.scale)
        fake = G(x, c_trg)
        fake_low = downsample(fake, self.scale)
        if self.single_phase:
            terms = self._critic_terms("D", x, fake.detach(), x_low, uv, label_org)
        else:
            if self.inherited_loss:
                with torch.no_grad():
                    teacher = teacher_scores(self.T(x_low)[0], self.gan_mode)
                terms = {"D_inherited": self.lambda_adv * inherited_d_loss(self.D(x)[0], self.D(fake.detach())[0], teacher, self.gan_mode)}
            else:
                terms = {"D_real": self.lambda_adv * self.gan_loss.d_real(self.D(x)[0]),
                         "D_fake": self.lambda_adv * self.gan_loss.d_fake(self.D(fake.detach())[0])}  # fmt: skip
            if not self.freeze_teachers:
                terms |= self._critic_terms("T", x_low, fake_low.detach(), x_low, uv, label_org)
        self.optimize("D", sum(terms.values()), terms)

        with frozen(self.D, self.T, *self._uv_nets()):
            src, cls = self.D(fake) if self.single_phase else (self.D(fake)[0], self.T(fake_low)[1])
            if self.single_phase or not self.inherited_loss:
                adversarial = self.gan_loss.g(src)
            else:
                with torch.no_grad():
                    judged = fake_low if self.importance_input == "fake" else x_low
                    weight = importance_weight(teacher_scores(self.T(judged)[0], self.gan_mode))
                adversarial = inherited_g_loss(src, weight, self.gan_mode)
            terms = {"G_fake": self.lambda_adv * adversarial}
            terms |= self._guidance_terms(cls, fake_low, uv, label_trg)
        terms |= self._identity_terms(x, fake, lambda images: G(images, c_org))
        self.optimize("G", sum(terms.values()), terms)

    def _uv_nets(self) -> list[nn.Module]:
        return [self.D_uv] if self.D_uv is not None else []

    def _critic_terms(self, name: str, real: Tensor, fake: Tensor, real_low: Tensor, uv: Tensor | None, labels: Tensor) -> dict[str, Tensor]:
        """The discriminator `name`'s adversarial terms and its head's attribute term on real
        images, logged as `<name>_real`, `<name>_fake`, `<name>_cls`, and D^uv's regression on the
        real images at low_size (`uv_real`): T in phase 1 (and in phase 2 with teachers that keep
        training), D in the single phase."""
        critic = getattr(self, name)
        src_real, cls_real = critic(real)
        terms = {
            f"{name}_real": self.lambda_adv * self.gan_loss.d_real(src_real),
            f"{name}_fake": self.lambda_adv * self.gan_loss.d_fake(critic(fake)[0]),
            f"{name}_cls": self.lambda_cls * domain_classification_loss(cls_real, labels, self.label_type),
        }
        if self.D_uv is not None:
            terms["uv_real"] = self.lambda_uv * F.l1_loss(self.D_uv(real_low), self.D_uv.target(downsample(uv, self.scale)))
        return terms

    def _guidance_terms(self, cls: Tensor, fake_low: Tensor, uv: Tensor | None, label_trg: Tensor) -> dict[str, Tensor]:
        """D^a classifies the translation as its target; D^uv finds the input's UV map in it."""
        terms = {"G_cls": self.lambda_cls * domain_classification_loss(cls, label_trg, self.label_type)}
        if self.D_uv is not None:
            terms["G_uv"] = self.lambda_uv * F.l1_loss(self.D_uv(fake_low), self.D_uv.target(downsample(uv, self.scale)))
        return terms

    def _identity_terms(self, inputs: Tensor, outputs: Tensor, translate_back) -> dict[str, Tensor]:
        if self.lambda_identity == 0 or self.identity_loss == "none":
            return {}
        if self.identity_loss == "mi":
            return {"G_mi": self.lambda_identity * self.mutual_information(inputs, outputs)}
        return {"G_cycle": self.lambda_identity * F.l1_loss(translate_back(outputs), inputs)}

    # ------------------------------------------------------------------ inference
    def translator(self, enhancing: bool | None = None) -> nn.Module:
        """Images at image_size -> translations: G1's at low_size before the switch, G2 o G1's at
        image_size after it (the moving averages where there are some)."""
        enhancing = self.enhancing if enhancing is None else enhancing
        G1 = self.inference_net("G1")
        return HighResolutionTranslator(G1, self.inference_net("G2"), self.scale) if enhancing else LowResolutionTranslator(G1, self.scale)

    def translate(self, images: Tensor, target: Target | None = None) -> Tensor:
        """Translate [-1, 1] images at image_size to `target` (see `target_labels`; default
        model.predict_target): low_size outputs before the switch, image_size after it."""
        if images.shape[1] != 3:
            raise ValueError(f"BiL-GAN translates 3-channel images, got {images.shape[1]}")
        target = self.predict_target if target is None else target
        return self.translator()(images, self.target_labels(target, len(images)))

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        """Translations of `image` (any size: padded to `size_multiple`, cropped back to the
        input's size, or before the switch to its low-resolution counterpart)."""
        (images,) = self.require(batch, "image")
        factor = 1 if self.enhancing else self.scale
        output = translate_any_size(lambda x: self.translate(x), images, self.size_multiple)
        return output[..., : -(-images.shape[-2] // factor), : -(-images.shape[-1] // factor)]

    def export_generator(self, target: Target | None = None) -> nn.Module:
        target = self.predict_target if target is None else target
        return FixedLabelGenerator(self.translator(), self.target_labels(target, 1)[0])

    # ------------------------------------------------------------------ evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """StarGAN's groups (one per domain, or per flipped attribute) at the current resolution:
        translations against the real images of the target domain, and against their own inputs
        (`target`: MS-SSIM between input and output, reported as the paper does)."""
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        inputs = images if self.enhancing else downsample(images, self.scale)
        groups = {}
        for name, c, real, target_labels in self.evaluation_groups(labels, inputs):
            groups[name] = EvalImages(fake=self.translate(images, c), real=real, target=inputs, labels=target_labels)
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        inputs = images if self.enhancing else downsample(images, self.scale)
        return {"input": inputs, **{name: self.translate(images, c) for name, c in self.evaluation_targets(labels).items()}}
