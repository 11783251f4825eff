"""StarGAN: one generator for translation between many domains (Choi et al., "StarGAN: Unified
Generative Adversarial Networks for Multi-Domain Image-to-Image Translation", CVPR 2018)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.losses import GANLoss, domain_classification_loss, gradient_penalty
from i2i_zoo.losses.classification import LABEL_TYPES, LabelType
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen
from i2i_zoo.methods.domain_labels import DomainLabels, Target
from i2i_zoo.methods.optimizers import OptimizerSpec, Schedule, adam_pair
from i2i_zoo.nets import FixedLabelGenerator, StarGANDiscriminator, StarGANGenerator


class StarGAN(DomainLabels, I2IMethod):
    """Generator `G(x, c)` translates images to the target labels `c`; discriminator `D` gives a
    WGAN critic map (`src`) and domain logits (`cls`).

    Each iteration updates D (WGAN-GP on real images and detached translations, plus the
    classification of real images); every `n_critic`-th iteration (the original's
    `(i + 1) % n_critic == 0`, on the method's own count of training batches) also updates G
    (fool D, be classified as the target, come back to the input under the original labels).
    Targets are the batch's own labels shuffled. Logged terms are weighted, so each step's loss is
    their sum: `D_real`, `D_fake`, `D_cls`, `D_gp`, `G_fake`, `G_cls`, `G_rec` (the original's
    D/loss_real, ..., G/loss_rec, which it logs unweighted).

    Args:
        domains: the domain (exclusive) or attribute names, in label order (linked from the data).
        label_type: `attributes` (CelebA: any combination of binary attributes, binary
            cross-entropy) or `exclusive` (one domain per image, e.g. RaFD's expressions or one
            folder per domain: cross-entropy, one-hot labels for G).
        image_size: training image size (linked from the data); sets D's classification kernel,
            image_size / 2**d_repeat_num.
        g_conv_dim: generator filters in the first layer.
        d_conv_dim: discriminator filters in the first layer.
        g_repeat_num: residual blocks in the generator.
        d_repeat_num: stride-2 convolutions in the discriminator.
        lambda_cls: weight of the domain classification terms.
        lambda_rec: weight of the reconstruction term.
        lambda_gp: weight of the gradient penalty.
        n_critic: discriminator updates per generator update.
        lr_g: generator learning rate.
        lr_d: discriminator learning rate.
        betas: Adam betas.
        num_iters: training iterations (batches): the run's length, and the span of the schedule.
        num_iters_decay: final iterations during which the learning rates decay.
        lr_update_step: iterations between two decrements of the learning rates (see
            i2i_zoo.methods.optimizers.StarGANDecay).
        predict_target: the target of `translate`, predict and export when none is given: a
            domain or attribute name, a list of attribute names (those 1, the others 0), a dict
            {attribute: value}, or indices.
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the original's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    inference_options = ("predict_target",)

    def __init__(
        self,
        domains: list[str] | None = None,
        label_type: LabelType = "attributes",
        image_size: int = 128,
        g_conv_dim: int = 64,
        d_conv_dim: int = 64,
        g_repeat_num: int = 6,
        d_repeat_num: int = 6,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
        n_critic: int = 5,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        num_iters: int = 200000,
        num_iters_decay: int = 100000,
        lr_update_step: int = 1000,
        predict_target: int | str | list[int] | list[str] | dict[str, float] | None = None,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start, max_iterations=num_iters)
        if domains is None or len(domains) == 0:
            raise ValueError("model.domains is required: the domain or attribute names in label order (linked from data.domains)")
        if len(set(domains)) != len(domains):
            raise ValueError(f"model.domains has repeated names: {domains}")
        if label_type not in LABEL_TYPES:
            raise ValueError(f"model.label_type={label_type!r} is unknown; choose one of {LABEL_TYPES}")
        if label_type == "exclusive" and len(domains) < 2:
            raise ValueError(f"model.label_type=exclusive needs at least 2 domains, got {domains}")
        if not 0 < num_iters_decay <= num_iters:
            raise ValueError(f"model.num_iters_decay={num_iters_decay} should be in 1..num_iters ({num_iters})")
        self.save_hyperparameters()
        self.domains, self.label_type = list(domains), label_type
        self.G = StarGANGenerator(3, len(domains), g_conv_dim, g_repeat_num)
        if image_size % self.G.size_multiple:
            raise ValueError(f"the StarGAN generator needs image sides that are multiples of 4; model.image_size is {image_size}")
        self.D = StarGANDiscriminator(image_size, 3, len(domains), d_conv_dim, d_repeat_num)
        self.gan_loss = GANLoss("wgan")
        self.lambda_cls, self.lambda_rec, self.lambda_gp = lambda_cls, lambda_rec, lambda_gp
        self.n_critic = n_critic
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        # The original's rule, on the iteration count (G's rate decays on iterations it skips too).
        self.schedule = Schedule(
            "stargan", {"num_iters": num_iters, "num_iters_decay": num_iters_decay, "lr_update_step": lr_update_step}, "iteration"
        )
        self.predict_target = predict_target
        if predict_target is not None:
            self.target_labels(predict_target, 1)  # fail now on an unknown name, not at predict time
        self.init_ema()

    # ------------------------------------------------------------------ optimizers and schedule
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return adam_pair(self.G.parameters(), self.D.parameters(), self.lr_g, self.lr_d, self.betas, self.schedule)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        datamodule = getattr(self.trainer, "datamodule", None)
        data_type = getattr(datamodule, "label_type", None)
        if data_type is not None and data_type != self.label_type:
            raise ValueError(
                f"model.label_type={self.label_type!r} but {type(datamodule).__name__} gives {data_type!r} labels "
                f"(data.layout {getattr(datamodule.hparams, 'layout', '?')!r}); StarGAN takes attributes or exclusive domains"
            )

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    # ------------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x_real, label_org = self.require(batch, "image", "label")
        self.check_labels(label_org)
        label_trg = label_org[torch.randperm(len(label_org), device=label_org.device)]
        c_org, c_trg = self.label_vectors(label_org), self.label_vectors(label_trg)
        update_g = (self.iteration + 1) % self.n_critic == 0
        # The translation's graph is kept only when G learns from it in this iteration.
        with torch.set_grad_enabled(update_g):
            x_fake = self.G(x_real, c_trg)

        # Discriminator: real images score high and are classified as their labels, translations
        # score low; the gradient penalty at interpolates keeps the critic 1-Lipschitz.
        out_src, out_cls = self.D(x_real)
        terms = {
            "D_real": self.gan_loss.d_real(out_src),
            "D_fake": self.gan_loss.d_fake(self.D(x_fake.detach())[0]),
            "D_cls": self.lambda_cls * domain_classification_loss(out_cls, label_org, self.label_type),
            "D_gp": self.lambda_gp * gradient_penalty(lambda x: self.D(x)[0], x_real, x_fake),
        }
        self.optimize("D", sum(terms.values()), terms)

        # Generator: translations fool D and are classified as the target; translating back to
        # the original labels reconstructs the input.
        if update_g:
            with frozen(self.D):
                out_src, out_cls = self.D(x_fake)
            x_rec = self.G(x_fake, c_org)
            terms = {
                "G_fake": self.gan_loss.g(out_src),
                "G_cls": self.lambda_cls * domain_classification_loss(out_cls, label_trg, self.label_type),
                "G_rec": self.lambda_rec * F.l1_loss(x_rec.float(), x_real.float()),
            }
            self.optimize("G", sum(terms.values()), terms)

    # ----------------------------------------------------------------------------- inference
    def input_channels(self) -> int:
        return self.G.in_channels

    def translate(self, images: Tensor, target: Target | None = None) -> Tensor:
        """Translate [-1, 1] images to `target` (see `target_labels`; default: model.predict_target)."""
        if images.shape[1] != self.G.in_channels:
            raise ValueError(f"StarGAN translates {self.G.in_channels}-channel images, got {images.shape[1]}")
        target = self.predict_target if target is None else target
        return self.inference_net("G")(images, self.target_labels(target, len(images)))

    def export_generator(self, target: Target | None = None) -> nn.Module:
        """G (G_ema with ema_decay) with the labels of `target` fixed (default:
        model.predict_target), a plain image network."""
        target = self.predict_target if target is None else target
        return FixedLabelGenerator(self.inference_net("G"), self.target_labels(target, 1)[0])

    # ---------------------------------------------------------------------------- evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """One group per domain (exclusive: every image translated to it, against the real images
        of that domain, and against the aligned renderings `image_true` (N, K, C, H, W) where the
        data has them) or per attribute (flipped, against the images that have that hair colour,
        or all images for other attributes, whose flips go both ways). Each carries its target
        labels: the domain's index, or the full attribute vector G was given."""
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        aligned = batch.get("image_true")
        groups = {}
        for k, (name, c, real, target_labels) in enumerate(self.evaluation_groups(labels, images)):
            target = None if aligned is None else aligned[:, k]
            groups[name] = EvalImages(fake=self.translate(images, c), real=real, target=target, labels=target_labels)
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        return {"input": images, **{name: self.translate(images, c) for name, c in self.evaluation_targets(labels).items()}}
