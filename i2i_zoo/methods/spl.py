"""SPL: one generator trained by the Spatial Profile Loss alone, no discriminator (Sarfraz et al.,
"Content and Colour Distillation for Learning Image Translations with the Spatial Profile Loss",
BMVC 2019), for its three tasks: domain mapping, x4 super-resolution and reference (makeup)
transfer."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.losses import SpatialProfileLoss
from i2i_zoo.methods.base import EvalImages, I2IMethod, translate_any_size
from i2i_zoo.methods.optimizers import OptimizerSpec, policy_schedule
from i2i_zoo.nets import EDSR, ReferenceTransfer, SRResNet, init_weights, spl_generator
from i2i_zoo.nets.edsr import DIV2K_MEAN
from i2i_zoo.nets.layers import InitType, Norm
from i2i_zoo.nets.spl_resnet import SPL_GENERATORS, SPLGenerator
from i2i_zoo.nets.srresnet import SRResNetNorm

DIRECTIONS = ("AtoB", "BtoA")
LR_POLICIES = ("constant", "exponential")
Direction = Literal[DIRECTIONS]
SPLLrPolicy = Literal[LR_POLICIES]
SR_GENERATORS = ("srresnet", "edsr")
SRGenerator = Literal[SR_GENERATORS]


class _SPLMethod(I2IMethod):
    """One generator `G`, one Adam optimizer (the original's 2e-4, beta1 0.9, x0.96 per epoch), the
    loss -(GP + CP) (+ an optional L1 term where there is a ground truth); training and validation
    log the similarities `GP` and `CP` (12 and 24 at best)."""

    def __init__(self, gp_weight: float, rgb_weight: float, yuv_weight: float, yuv_gradient_weight: float,
                 lr: float, betas: tuple[float, float], lr_policy: str, lr_decay_rate: float, l1_weight: float = 0.0,
                 ema_decay: float = 0.0, ema_start: int = 0):
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"model.lr_policy={lr_policy!r} is unknown for SPL; choose one of {LR_POLICIES}")
        super().__init__(ema_decay=ema_decay, ema_start=ema_start)
        self.schedule = policy_schedule(lr_policy, LR_POLICIES, lr_decay_rate=lr_decay_rate)
        self.spl = SpatialProfileLoss(gp_weight, rgb_weight, yuv_weight, yuv_gradient_weight)
        self.lr, self.betas = lr, tuple(betas)
        self.l1_weight = l1_weight

    @staticmethod
    def _resnet(generator: str, in_channels: int, out_channels: int, ngf: int, n_blocks: int, norm: str, init_type: str,
                init_gain: float, transfer: bool = False) -> nn.Module:
        """The domain-mapping or (`transfer`) makeup generator; `norm`, `init_type` and `init_gain`
        choose CycleGAN's ResNet's, the authors' are fixed."""
        if generator not in SPL_GENERATORS:
            raise ValueError(f"model.generator={generator!r} is unknown; choose one of {SPL_GENERATORS}")
        if generator == "spl_resnet" and (norm, init_type, init_gain) != ("instance", "normal", 0.02):
            raise ValueError(
                "model.norm, model.init_type and model.init_gain apply to generator: resnet; "
                "the authors' spl_resnet has its own norms and initialisation"
            )
        if transfer:
            net = ReferenceTransfer(out_channels, ngf, n_blocks, norm, generator)
        else:
            net = spl_generator(generator, in_channels, out_channels, ngf, n_blocks, norm)
        return init_weights(net, init_type, init_gain) if generator == "resnet" else net

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return {"G": OptimizerSpec(self.G.parameters(), self.lr, args={"betas": self.betas}, schedule=self.schedule)}

    def _check_colour_profile(self, channels: int, option: str) -> None:
        if channels != 3 and (self.spl.yuv_weight or self.spl.yuv_gradient_weight):
            raise ValueError(
                f"{option}={channels}: the colour profile on YUV needs RGB images; "
                "set model.yuv_weight and model.yuv_gradient_weight to 0 for other images"
            )

    def _optimize_profiles(self, fake: Tensor, gp_target: Tensor, cp_target: Tensor, l1_target: Tensor | None = None) -> None:
        gp, cp = self.spl.gp(fake, gp_target), self.spl.cp(fake, cp_target)
        terms = {"GP": gp, "CP": cp, "SPL": -(gp + cp)}
        if self.l1_weight:
            terms["L1"] = self.l1_weight * F.l1_loss(fake, l1_target)
        self.optimize("G", terms["SPL"] + terms.get("L1", 0), terms)

    def profile_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """What the output's gradient profile and colour profile are compared with."""
        raise NotImplementedError

    def _evaluate(self, batch: dict[str, Any], stage: str) -> dict[str, EvalImages]:
        groups = super()._evaluate(batch, stage)
        (images,) = groups.values()
        gp_target, cp_target = self.profile_targets(batch)
        similarities = {"GP": self.spl.gp(images.fake, gp_target), "CP": self.spl.cp(images.fake, cp_target)}
        self.log_terms(similarities, prefix=stage, batch_size=len(images.fake))
        return groups


class SPL(_SPLMethod):
    """Domain mapping on paired data (pix2pix layout): `G` (the authors' ResNet, 9 blocks) maps the
    input domain to the output domain, trained by SPL against the aligned target.

    Args:
        channels_A: channels of domain A images (linked from the datamodule).
        channels_B: channels of domain B images (linked from the datamodule).
        direction: `AtoB` translates A to B, `BtoA` B to A.
        generator: `spl_resnet` (the authors' ResNet: batch norm with batch statistics at test
            time too, see docs/methods/spl.md) or `resnet` (CycleGAN's).
        ngf: generator filters in the first layer.
        n_blocks: residual blocks of the generator (9 in the paper).
        norm: `resnet`'s norm: `instance`, `batch` or `none` (spl_resnet's are fixed: other values are an error).
        init_type: `resnet`'s initialisation: `normal` (N(0, init_gain)), `xavier`, `kaiming` or
            `orthogonal` (spl_resnet's is the authors' truncated normal: other values are an error).
        init_gain: scale of `resnet`'s initialisation.
        gp_weight: weight of the gradient profile.
        rgb_weight: weight of the colour profile on RGB.
        yuv_weight: weight of the colour profile on YUV.
        yuv_gradient_weight: weight of the colour profile on the differences of YUV.
        l1_weight: weight of an L1 term to the ground truth; 0 in the paper. Every profile is
            L2-normalised, so SPL cannot see a global gain of the image: this term pins
            brightness where PSNR matters (see docs/methods/spl.md).
        lr: Adam learning rate.
        betas: Adam betas (the original's beta1 is 0.9).
        lr_policy: `exponential` (x lr_decay_rate per epoch, the original's) or `constant` (the
            original's --fixed-learning-rate).
        lr_decay_rate: the exponential policy's factor per epoch (the original's 0.96).
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the paper's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    # Checkpoints from before `generator` existed hold CycleGAN's ResNet.
    options_before = {"generator": "resnet"}

    def __init__(
        self,
        channels_A: int = 3,
        channels_B: int = 3,
        direction: Direction = "AtoB",
        generator: SPLGenerator = "spl_resnet",
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        gp_weight: float = 1.0,
        rgb_weight: float = 1.0,
        yuv_weight: float = 1.0,
        yuv_gradient_weight: float = 1.0,
        l1_weight: float = 0.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        lr_policy: SPLLrPolicy = "exponential",
        lr_decay_rate: float = 0.96,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(gp_weight, rgb_weight, yuv_weight, yuv_gradient_weight, lr, betas, lr_policy, lr_decay_rate, l1_weight,
                         ema_decay, ema_start)
        if direction not in DIRECTIONS:
            raise ValueError(f"model.direction={direction!r} is unknown; choose one of {DIRECTIONS}")
        self.save_hyperparameters()
        in_channels, out_channels = (channels_A, channels_B) if direction == "AtoB" else (channels_B, channels_A)
        self._check_colour_profile(out_channels, "the output domain's channels (data.channels_A/B)")
        self.G = self._resnet(generator, in_channels, out_channels, ngf, n_blocks, norm, init_type, init_gain)
        self.direction = direction
        self.init_ema()

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    def _source_target(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        real_a, real_b = self.require(batch, "A", "B")
        return (real_a, real_b) if self.direction == "AtoB" else (real_b, real_a)

    def profile_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        _, target = self._source_target(batch)
        return target, target

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        source, target = self._source_target(batch)
        self._optimize_profiles(self.G(source), gp_target=target, cp_target=target, l1_target=target)

    def input_channels(self) -> int:
        return self.G.in_channels

    def translate(self, images: Tensor) -> Tensor:
        """Translate source-domain images in [-1, 1] (sides multiples of `size_multiple`)."""
        if images.shape[1] != self.G.in_channels:
            raise ValueError(f"{self.direction} translation takes {self.G.in_channels}-channel images, got {images.shape[1]}")
        return self.inference_net("G")(images)

    def export_generator(self) -> nn.Module:
        return self.inference_net("G")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        source, target = self._source_target(batch)
        return {self.direction: EvalImages(fake=self.translate(source), real=target, target=target, source=source)}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        source, target = self._source_target(batch)
        return {"input": source, "output": self.translate(source), "target": target}


class SPLSuperResolution(_SPLMethod):
    """Single-image super-resolution: `G` (SRResNet, or EDSR) upscales `lr` batches by `scale`,
    trained by SPL against `hr`. Validation scores the output and, as the baseline, bicubic
    upsampling (`EvalImages.baseline`: `val/psnr_baseline` beside `val/psnr` with the metrics
    callback).

    Args:
        channels: image channels (linked from the datamodule).
        scale: upscaling factor, 2, 4 or 8 (linked from the datamodule).
        generator: `srresnet` (the SPL authors' SRResNet, tanh output) or `edsr` (Lim et al.'s
            EDSR as their official code builds it; linear output, clamped to [-1, 1] by
            `translate`). The paper names both.
        num_features: the generator's width (64: SRResNet, EDSR-baseline; 256: EDSR).
        num_blocks: residual blocks (16: SRResNet, EDSR-baseline; 32: EDSR).
        norm: SRResNet's batch norm: `batch_tf` (the original's: a shift, no scale, eps 1e-3),
            `batch` (PyTorch's: scale and shift, eps 1e-5) or `none`. EDSR has none.
        res_scale: EDSR's residual scaling (1 for EDSR-baseline, 0.1 for EDSR); `srresnet` has none.
        gp_weight: weight of the gradient profile.
        rgb_weight: weight of the colour profile on RGB.
        yuv_weight: weight of the colour profile on YUV.
        yuv_gradient_weight: weight of the colour profile on the differences of YUV.
        l1_weight: weight of an L1 term to the ground truth; 0 in the paper. Every profile is
            L2-normalised, so SPL cannot see a global gain of the image: this term pins
            brightness where PSNR matters (see docs/methods/spl.md).
        lr: Adam learning rate.
        betas: Adam betas (the original's beta1 is 0.9).
        lr_policy: `exponential` (x lr_decay_rate per epoch, the original's) or `constant` (the
            original's --fixed-learning-rate).
        lr_decay_rate: the exponential policy's factor per epoch (the original's 0.96).
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the paper's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    def __init__(
        self,
        channels: int = 3,
        scale: int = 4,
        generator: SRGenerator = "srresnet",
        num_features: int = 64,
        num_blocks: int = 16,
        norm: SRResNetNorm = "batch_tf",
        res_scale: float = 1.0,
        gp_weight: float = 1.0,
        rgb_weight: float = 1.0,
        yuv_weight: float = 1.0,
        yuv_gradient_weight: float = 1.0,
        l1_weight: float = 0.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        lr_policy: SPLLrPolicy = "exponential",
        lr_decay_rate: float = 0.96,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(gp_weight, rgb_weight, yuv_weight, yuv_gradient_weight, lr, betas, lr_policy, lr_decay_rate, l1_weight,
                         ema_decay, ema_start)
        self.save_hyperparameters()
        self._check_colour_profile(channels, "data.channels")
        if generator == "srresnet":
            if res_scale != 1.0:
                raise ValueError("model.res_scale applies to model.generator: edsr; SRResNet has no residual scaling")
            self.G = SRResNet(channels, channels, scale, num_features, num_blocks, norm)
        elif generator == "edsr":
            if norm != "batch_tf":
                raise ValueError(f"model.norm={norm!r} applies to model.generator: srresnet; EDSR has no normalisation")
            # DIV2K's mean colour, as EDSR's; other channel counts take its average.
            mean = DIV2K_MEAN if channels == 3 else (sum(DIV2K_MEAN) / 3,) * channels
            self.G = EDSR(channels, channels, scale, num_features, num_blocks, res_scale, mean)
        else:
            raise ValueError(f"model.generator={generator!r} is unknown for super-resolution; choose one of {SR_GENERATORS}")
        self.scale = scale
        self.init_ema()

    def profile_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        (hr,) = self.require(batch, "hr")
        return hr, hr

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        lr, hr = self.require(batch, "lr", "hr")
        self._optimize_profiles(self.G(lr), gp_target=hr, cp_target=hr, l1_target=hr)

    def input_channels(self) -> int:
        return self.G.in_channels

    def translate(self, images: Tensor) -> Tensor:
        """Upscale low-resolution images in [-1, 1] by `scale`."""
        if images.shape[1] != self.G.in_channels:
            raise ValueError(f"super-resolution takes {self.G.in_channels}-channel images, got {images.shape[1]}")
        return self.inference_net("G")(images).clamp(-1, 1)  # EDSR's output is linear

    def bicubic(self, images: Tensor) -> Tensor:
        """The baseline: bicubic upsampling with the a = -0.5 kernel of MATLAB's imresize and PIL
        (PyTorch's antialiased bicubic), clipped to [-1, 1]."""
        upscaled = F.interpolate(images, scale_factor=self.scale, mode="bicubic", antialias=True, align_corners=False)
        return upscaled.clamp(-1, 1)

    def export_generator(self) -> nn.Module:
        return self.inference_net("G")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        lr, hr = self.require(batch, "lr", "hr")
        return {f"x{self.scale}": EvalImages(fake=self.translate(lr), real=hr, target=hr, baseline=self.bicubic(lr))}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        lr, hr = self.require(batch, "lr", "hr")
        return {"bicubic": self.bicubic(lr), "output": self.translate(lr), "target": hr}


class SPLReferenceTransfer(_SPLMethod):
    """Reference-based transfer such as makeup: `G` renders the `source` batch in the style
    (colours) of the `reference` batch, keeping the source's content: GP against the source, CP
    against the reference. Swapping source and reference at inference removes the reference's
    style (makeup removal).

    Args:
        channels: image channels (linked from the datamodule).
        generator: `spl_resnet` (the authors' ResNet: batch norm with batch statistics at test
            time too, see docs/methods/spl.md) or `resnet` (CycleGAN's).
        ngf: generator filters in the first layer.
        n_blocks: residual blocks of the generator (9 in the paper).
        norm: `resnet`'s norm: `instance`, `batch` or `none` (spl_resnet's are fixed: other values are an error).
        init_type: `resnet`'s initialisation: `normal` (N(0, init_gain)), `xavier`, `kaiming` or
            `orthogonal` (spl_resnet's is the authors' truncated normal: other values are an error).
        init_gain: scale of `resnet`'s initialisation.
        gp_weight: weight of the gradient profile (to the source).
        rgb_weight: weight of the colour profile on RGB (to the reference).
        yuv_weight: weight of the colour profile on YUV.
        yuv_gradient_weight: weight of the colour profile on the differences of YUV.
        lr: Adam learning rate.
        betas: Adam betas (the original's beta1 is 0.9).
        lr_policy: `exponential` (x lr_decay_rate per epoch, the original's) or `constant` (the
            original's --fixed-learning-rate).
        lr_decay_rate: the exponential policy's factor per epoch (the original's 0.96).
        ema_decay: decay of a moving average `G_ema` of G that then translates; 0 (the paper's): none.
        ema_start: iterations before which `G_ema` copies G.
    """

    # Checkpoints from before `generator` existed hold CycleGAN's ResNet.
    options_before = {"generator": "resnet"}

    def __init__(
        self,
        channels: int = 3,
        generator: SPLGenerator = "spl_resnet",
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        init_type: InitType = "normal",
        init_gain: float = 0.02,
        gp_weight: float = 1.0,
        rgb_weight: float = 1.0,
        yuv_weight: float = 1.0,
        yuv_gradient_weight: float = 1.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        lr_policy: SPLLrPolicy = "exponential",
        lr_decay_rate: float = 0.96,
        ema_decay: float = 0.0,
        ema_start: int = 0,
    ):
        super().__init__(gp_weight, rgb_weight, yuv_weight, yuv_gradient_weight, lr, betas, lr_policy, lr_decay_rate,
                         ema_decay=ema_decay, ema_start=ema_start)
        self.save_hyperparameters()
        self._check_colour_profile(channels, "data.channels")
        self.G = self._resnet(generator, 2 * channels, channels, ngf, n_blocks, norm, init_type, init_gain, transfer=True)
        self.init_ema()

    @property
    def size_multiple(self) -> int:
        return self.G.size_multiple

    def profile_targets(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        source, reference = self.require(batch, "source", "reference")
        return source, reference

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        source, reference = self.require(batch, "source", "reference")
        self._check_reference(source, reference)
        self._optimize_profiles(self.G(torch.cat([source, reference], 1)), gp_target=source, cp_target=reference)

    def input_channels(self) -> int:
        return self.G.out_channels  # G takes the source and the reference stacked

    def translate(self, images: Tensor, reference: Tensor) -> Tensor:
        """Render `images` (sources in [-1, 1]) in the style of `reference` (same shape)."""
        self._check_reference(images, reference)
        return self.inference_net("G")(torch.cat([images, reference], 1))

    def _check_reference(self, images: Tensor, reference: Tensor) -> None:
        if images.shape != reference.shape:
            raise ValueError(f"source and reference must have one shape, got {tuple(images.shape)} and {tuple(reference.shape)}")
        if images.shape[1] != self.G.out_channels:
            raise ValueError(f"reference transfer takes {self.G.out_channels}-channel images, got {images.shape[1]}")

    def export_generator(self) -> nn.Module:
        """`G` (`G_ema` with ema_decay): it takes the source and the reference concatenated along channels."""
        return self.inference_net("G")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        source, reference = self.require(batch, "source", "reference")
        return {"transfer": EvalImages(fake=self.translate(source, reference), real=reference)}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        source, reference = self.require(batch, "source", "reference")
        return {
            "source": source,
            "reference": reference,
            "output": self.translate(source, reference),
            "swapped": self.translate(reference, source),
        }

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        images, reference = self.require(batch, "image", "reference")
        channels = images.shape[1]
        return translate_any_size(
            lambda pair: self.translate(pair[:, :channels], pair[:, channels:]),
            torch.cat([images, reference], 1),
            self.size_multiple,
        )
