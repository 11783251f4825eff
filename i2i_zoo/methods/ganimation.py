"""GANimation: continuous-condition translation with an attention mask (Pumarola et al., "GANimation:
Anatomically-aware Facial Animation from a Single Image", ECCV 2018)."""

from __future__ import annotations

from typing import Any, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn.functional import l1_loss

from i2i_zoo.losses import GANLoss, condition_regression_loss, gradient_penalty, total_variation
from i2i_zoo.methods.base import EvalImages, I2IMethod, frozen, translate_any_size
from i2i_zoo.methods.optimizers import LrPolicy, OptimizerSpec, adam_pair, policy_schedule
from i2i_zoo.nets import init_weights
from i2i_zoo.nets.ganimation import GANimationGenerator, GANimationTranslator, compose
from i2i_zoo.nets.stargan import StarGANDiscriminator

# A condition vector: one value per condition in `domains` order, a dict name -> value, or (for
# per-image targets in `translate`) an (N, c_dim) tensor.
Conditions = Union[Sequence[float], dict[str, float], Tensor, float]


class GANimation(I2IMethod):
    """Generator `G` (colour image + attention mask from the image and the target conditions) and
    discriminator `D` (WGAN critic map + regression of the image's conditions).

    Each iteration updates `D` twice, as the original code: the WGAN terms with the condition
    regression on real images, then the gradient penalty alone. `G` is updated every
    `train_G_every_n_iterations`-th iteration: adversarial term, regression of its fakes to the
    desired conditions, cycle back to the real conditions, and the attention masks of both passes
    kept small (mean) and smooth (total variation). Desired conditions are those of an image drawn
    from the whole training set (the batch's `target_label`, which MultiDomainDataModule's
    training batches hold) plus uniform noise, as the original's `_generate_random_cond`. Loss
    terms are computed as the original code does, which differs from the paper's equations in two
    places: the condition MSE is divided by the batch size once more, and the mask terms are the
    mean and the summed absolute differences (not the L2 norm and squared differences).

    Args:
        domains: condition names in label order (linked from data.domains), e.g. the 17 action-unit
            intensities; required.
        image_size: training image side (linked from the datamodule); D's regression head follows it.
        g_conv_dim: generator filters in the first layer.
        d_conv_dim: discriminator filters in the first layer.
        g_repeat_num: residual blocks of the generator.
        d_repeat_num: stride-2 convs of the discriminator (image_size must be a multiple of 2**d_repeat_num).
        lambda_D_prob: weight of the WGAN terms (D and G).
        lambda_D_cond: weight of the condition regression (D on reals, G on fakes); applied to the
            MSE divided by the batch size, as the original.
        lambda_D_gp: weight of the gradient penalty.
        lambda_cyc: weight of the cycle L1 back to the real conditions.
        lambda_mask: weight of the attention masks' mean (each of the two passes).
        lambda_mask_smooth: weight of the masks' total variation (summed absolute differences).
        train_G_every_n_iterations: G is updated on every n-th iteration, D on every one.
        cond_noise: half-width of the uniform noise added to the desired conditions (the batch's
            `target_label`); 0.1, the original's.
        lr_g: generator learning rate.
        lr_d: discriminator learning rate.
        betas: Adam betas.
        lr_policy: `linear` (constant for n_epochs, then linear decay over n_epochs_decay) or `constant`.
        n_epochs: epochs at the initial learning rate. The original's 20 + 10 epochs (nepochs_no_decay,
            nepochs_decay) train 21 epochs at the full rate, then lower it by lr/10 after each
            epoch, down to lr/10 in the 30th: the base's linear rule with 21 and 9 gives exactly
            those rates.
        n_epochs_decay: epochs of linear decay.
        predict_target: conditions predict translates to: one value per condition in `domains`
            order, or a dict with a value for every condition.
        predict_start: the first frame's conditions of an animation strip (predict_steps > 1);
            default all zeros (for action units: the neutral face), so the strip shows the target
            growing in.
        predict_steps: 1: predict writes the translation to predict_target; n > 1: an animation
            strip of n frames from predict_start to predict_target side by side in one image.
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the original's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    inference_options = ("predict_target", "predict_start", "predict_steps")

    def __init__(
        self,
        domains: list[str] | None = None,
        image_size: int = 128,
        g_conv_dim: int = 64,
        d_conv_dim: int = 64,
        g_repeat_num: int = 6,
        d_repeat_num: int = 6,
        lambda_D_prob: float = 1.0,
        lambda_D_cond: float = 4000.0,
        lambda_D_gp: float = 10.0,
        lambda_cyc: float = 10.0,
        lambda_mask: float = 0.1,
        lambda_mask_smooth: float = 1e-5,
        train_G_every_n_iterations: int = 5,
        cond_noise: float = 0.1,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: LrPolicy = "linear",
        n_epochs: int = 21,
        n_epochs_decay: int = 9,
        predict_target: list[float] | dict[str, float] | None = None,
        predict_start: list[float] | dict[str, float] | None = None,
        predict_steps: int = 1,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        self.schedule = policy_schedule(lr_policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay)
        if not domains:
            raise ValueError(
                "model.domains is required: the condition names in label order (linked from data.domains, "
                "e.g. the 17 action units AU01_r ... AU45_r)"
            )
        if predict_steps < 1:
            raise ValueError(f"model.predict_steps={predict_steps} should be 1 (one image) or more (an animation strip)")
        self.save_hyperparameters()
        self.domains = list(domains)
        self.G = init_weights(GANimationGenerator(3, len(self.domains), g_conv_dim, g_repeat_num), "normal", 0.02)
        self.D = init_weights(StarGANDiscriminator(image_size, 3, len(self.domains), d_conv_dim, d_repeat_num), "normal", 0.02)
        self.gan_loss = GANLoss("wgan")
        if image_size % self.G.size_multiple:
            raise ValueError(f"model.image_size={image_size} should be a multiple of {self.G.size_multiple}")
        self.lambda_D_prob, self.lambda_D_cond, self.lambda_D_gp = lambda_D_prob, lambda_D_cond, lambda_D_gp
        self.lambda_cyc, self.lambda_mask, self.lambda_mask_smooth = lambda_cyc, lambda_mask, lambda_mask_smooth
        self.train_G_every_n_iterations = train_G_every_n_iterations
        self.cond_noise = cond_noise
        self.lr_g, self.lr_d, self.betas = lr_g, lr_d, tuple(betas)
        # Checked now, so a wrong predict setting fails before any image is read.
        self.predict_target = None if predict_target is None else self.condition_vector(predict_target, "model.predict_target")
        self.predict_start = None if predict_start is None else self.condition_vector(predict_start, "model.predict_start")
        self.predict_steps = predict_steps
        self.init_ema()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return adam_pair(self.G.parameters(), self.D.parameters(), self.lr_g, self.lr_d, self.betas, self.schedule)

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    # ---------------------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real, real_cond = self._images_and_conditions(batch)
        desired_cond = self.desired_conditions(batch)

        # D on every iteration: real vs fake (WGAN), the real images' conditions, then (a separate
        # update, as the original) the gradient penalty.
        with torch.no_grad():
            fake = self.generate(real, desired_cond)[0]
        d_real, cond_real = self.D(real)
        d_fake, _ = self.D(fake)
        terms_D = {
            "D_real": self.gan_loss.d_real(d_real) * self.lambda_D_prob,
            "D_fake": self.gan_loss.d_fake(d_fake) * self.lambda_D_prob,
            "D_cond": condition_regression_loss(cond_real, real_cond) * self.lambda_D_cond,
        }
        self.optimize("D", sum(terms_D.values()), terms_D)
        loss_D_gp = gradient_penalty(lambda x: self.D(x)[0], real, fake) * self.lambda_D_gp
        self.optimize("D", loss_D_gp, {"D_gp": loss_D_gp})

        if (self.iteration + 1) % self.train_G_every_n_iterations:
            return
        # G: fool D with the right conditions, come back to the input, keep both masks small and smooth.
        fake, attention = self.generate(real, desired_cond)
        with frozen(self.D):
            d_fake, cond_fake = self.D(fake)
        cycled, attention_cyc = self.generate(fake, real_cond)
        terms_G = {
            "G_adv": self.gan_loss.g(d_fake) * self.lambda_D_prob,
            "G_cond": condition_regression_loss(cond_fake, desired_cond) * self.lambda_D_cond,
            "G_cyc": l1_loss(cycled.float(), real.float()) * self.lambda_cyc,
            "G_mask": attention.float().mean() * self.lambda_mask,
            "G_mask_cyc": attention_cyc.float().mean() * self.lambda_mask,
            "G_mask_smooth": total_variation(attention) * self.lambda_mask_smooth,
            "G_mask_smooth_cyc": total_variation(attention_cyc) * self.lambda_mask_smooth,
        }
        self.optimize("G", sum(terms_G.values()), terms_G)

    def generate(self, images: Tensor, conditions: Tensor, generator: nn.Module | None = None) -> tuple[Tensor, Tensor]:
        """The composed output of `generator` (default G) for (N, c_dim) `conditions`, and its
        attention mask."""
        colour, attention = (generator or self.G)(images, conditions)
        return compose(images, colour, attention), attention

    def desired_conditions(self, batch: dict[str, Any]) -> Tensor:
        """Targets to train on: the batch's `target_label` (for each image, the conditions of an
        image drawn uniformly from the whole training set, as the original's
        `_generate_random_cond`) plus U(-cond_noise, cond_noise) noise."""
        if "target_label" not in batch:
            # No fallback to a shuffle of the batch: it gives one image per batch its own
            # conditions back on average, which the original's draw from the whole set rarely does.
            raise KeyError(
                "GANimation trains toward target conditions drawn from the whole training set, which "
                f"MultiDomainDataModule's training batches hold as `target_label`; this batch has {sorted(batch)}. "
                "Train with MultiDomainDataModule (layout ganimation or csv), or add `target_label` "
                "(N, c_dim) to the batches of your own loader"
            )
        images, target = batch["image"], batch["target_label"]
        if target.shape != (len(images), len(self.domains)) or not target.is_floating_point():
            raise ValueError(
                f"the batch's target_label should be (N, {len(self.domains)}) floats like its label, got "
                f"{target.dtype} of shape {tuple(target.shape)}"
            )
        target = target.to(images.dtype)
        noise = torch.rand_like(target) * 2 * self.cond_noise - self.cond_noise
        return target + noise

    def _images_and_conditions(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        images, labels = self.require(batch, "image", "label")
        if labels.dim() != 2 or labels.shape[1] != len(self.domains) or not labels.is_floating_point():
            raise ValueError(
                f"GANimation trains on continuous condition vectors, (N, {len(self.domains)}) floats for "
                f"{self.domains}; the batch's labels are {labels.dtype} of shape {tuple(labels.shape)}. "
                "Use MultiDomainDataModule with layout ganimation or csv"
            )
        return images, labels.to(images.dtype)

    # ---------------------------------------------------------------------------- inference
    def condition_vector(self, value: Conditions, option: str = "target") -> Tensor:
        """`value` as a float tensor (c_dim,) (or (N, c_dim) for a tensor of per-image targets):
        a sequence in `domains` order, a dict with every condition name, or a number when there
        is one condition."""
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(self.domains))
            missing = [name for name in self.domains if name not in value]
            if unknown or missing:
                raise ValueError(
                    f"{option} needs a value for each condition {self.domains}"
                    + (f"; unknown: {unknown}" if unknown else "")
                    + (f"; missing: {missing}" if missing else "")
                )
            value = [value[name] for name in self.domains]
        vector = torch.as_tensor(value, dtype=torch.float32)
        if vector.dim() == 0 and len(self.domains) == 1:
            vector = vector.reshape(1)
        if vector.dim() not in (1, 2) or vector.shape[-1] != len(self.domains):
            raise ValueError(
                f"{option} needs {len(self.domains)} value(s), one per condition {self.domains} "
                f"(or a dict name -> value), got shape {tuple(vector.shape)}"
            )
        return vector

    def input_channels(self) -> int:
        return self.G.in_channels

    def translate(self, images: Tensor, target: Conditions | None = None) -> Tensor:
        """Translate [-1, 1] images (sides multiples of `size_multiple`) to the conditions `target`
        (default: model.predict_target): one vector for all images, or (N, c_dim) per image."""
        if target is None:
            if self.predict_target is None:
                raise ValueError(f"translate needs target=: one value per condition {self.domains}, or a dict name -> value")
            target = self.predict_target
        if images.shape[1] != self.G.in_channels:
            raise ValueError(f"GANimation takes {self.G.in_channels}-channel images, got {images.shape[1]}")
        if images.shape[-2] % self.size_multiple or images.shape[-1] % self.size_multiple:
            raise ValueError(
                f"image sides must be multiples of {self.size_multiple}, got {images.shape[-2]}x{images.shape[-1]} "
                "(predict pads them)"
            )
        conditions = self.condition_vector(target).to(images.device, images.dtype)
        if conditions.dim() == 2 and len(conditions) != len(images):
            raise ValueError(f"target holds {len(conditions)} condition vectors for {len(images)} images")
        return self.generate(images, conditions.expand(len(images), -1), self.inference_net("G"))[0]

    def interpolate(self, images: Tensor, start: Conditions, end: Conditions, steps: int) -> Tensor:
        """Frames (steps, N, C, H, W) of the images translated to conditions moving linearly from
        `start` (frame 0) to `end` (the last frame)."""
        if steps < 2:
            raise ValueError(f"an interpolation needs at least 2 steps (start and end), got {steps}")
        start, end = self.condition_vector(start, "start"), self.condition_vector(end, "end")
        return torch.stack([self.translate(images, torch.lerp(start, end, i / (steps - 1))) for i in range(steps)])

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        """The translation to model.predict_target, or with predict_steps > 1 the animation strip
        from model.predict_start: the frames side by side, one image per input."""
        (images,) = self.require(batch, "image")
        if self.predict_target is None:
            raise ValueError(f"predict needs model.predict_target: one value per condition {self.domains}")
        if self.predict_steps == 1:
            return translate_any_size(lambda x: self.translate(x, self.predict_target), images, self.size_multiple)
        start = self.predict_start if self.predict_start is not None else torch.zeros(len(self.domains))
        frames = translate_any_size(
            lambda x: self.interpolate(x, start, self.predict_target, self.predict_steps), images, self.size_multiple
        )
        steps, n, channels, height, width = frames.shape
        return frames.permute(1, 2, 3, 0, 4).reshape(n, channels, height, steps * width)

    def export_generator(self, target: Conditions | None = None) -> nn.Module:
        """`G` with the conditions fixed to `target` (default: model.predict_target), returning the
        composed image."""
        target = self.predict_target if target is None else target
        if target is None:
            raise ValueError(f"export needs a target: one value per condition {self.domains} (--condition target=[...])")
        vector = self.condition_vector(target)
        if vector.dim() != 1:
            raise ValueError(f"export fixes one target vector, got shape {tuple(vector.shape)}")
        generator = self.inference_net("G")
        return GANimationTranslator(generator, vector.to(next(generator.parameters()).device))

    # ---------------------------------------------------------------------------- evaluation
    @staticmethod
    def evaluation_targets(conditions: Tensor) -> Tensor:
        """Each validation image's target: the next image's conditions in the batch. A fixed
        shuffle, so validation draws no random numbers (the training stream stays exact)."""
        return conditions.roll(1, dims=0)

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        real, real_cond = self._images_and_conditions(batch)
        return {"target": EvalImages(fake=self.translate(real, self.evaluation_targets(real_cond)), real=real)}

    def _evaluate(self, batch: dict[str, Any], stage: str) -> dict[str, EvalImages]:
        """Also logs `cond_error`: D's mean absolute regression error of the fakes to their
        targets, a cheap signal of how well G hits the conditions (as far as D can tell)."""
        groups = super()._evaluate(batch, stage)
        _, real_cond = self._images_and_conditions(batch)
        _, predicted = self.D(groups["target"].fake)
        error = (predicted.float() - self.evaluation_targets(real_cond).float()).abs().mean()
        self.log_terms({"cond_error": error}, prefix=stage, batch_size=len(real_cond))
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        real, real_cond = self._images_and_conditions(batch)
        colour, attention = self.inference_net("G")(real, self.evaluation_targets(real_cond))
        # The mask in [0, 1] is shown on the images' [-1, 1] scale: white keeps the input.
        return {"input": real, "attention": attention * 2 - 1, "colour": colour, "output": compose(real, colour, attention)}
