"""`AttributeClassificationError`: the fraction of a method's translations that a classifier does
not assign to their target domain or attribute (BiL-GAN's attribute classification error), on
validation and test, summed across processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn

from i2i_zoo.data.demo.truth import TINTS, tint_scores
from i2i_zoo.methods.base import EvalImages
from i2i_zoo.metrics.scheduled import ScheduledEvaluation
from i2i_zoo.weights import load_into, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TIMM_PREFIX = "timm:"
LOGGED_NAME = "attribute_error"


class DemoTintClassifier(nn.Module):
    """The built-in `tints` demo's classifier: logits over the tints of `TINTS` (in that order),
    the `tint_scores` of images in [0, 1] at any size. Parameter-free, and right on every demo
    image, so a translation's error measures the translation alone: the demo's measurable proxy
    for a classifier trained on real images."""

    class_names = tuple(TINTS)

    def forward(self, images: Tensor) -> Tensor:
        return tint_scores(images * 2 - 1)


class AttributeClassificationError(ScheduledEvaluation):
    """Classifies a method's translations (its `evaluation_images` hook, whose `EvalImages.labels`
    give each translation's target) and counts those not given their target: for exclusive
    domains (labels: class indices) the argmax of the logits is another class; for attributes
    (labels: 0/1 vectors; one group per flipped attribute, named after it) the sigmoid of the
    group's attribute logit is on the other side of 0.5 than its target value. Logged as
    `val/attribute_error` (`test/...` in test; `val/<namespace>attribute_error` where the method
    has a `metric_namespace`); with several groups, each as `val/attribute_error_<group>` and the
    mean over groups as `val/attribute_error`.

    The classifier lives in this callback, never in the method (it would enter every checkpoint).

    Args:
        classifier: `demo_tints` (`DemoTintClassifier`, for the `tints` demo; it reads the images
            as they are, without the options below), a TorchScript file (`torch.jit.save` of a
            module mapping N x 3 x H x W images, normalised as below, to N x K logits in the
            order of the method's `domains`), or `timm:<model name>` with `classifier_weights`.
        classifier_weights: the state dict of the timm model with a `len(domains)`-class head
            (read with weights_only); only with `timm:`.
        classifier_size: the side the classifier takes: translations are resized to it (bilinear,
            antialiased); None: their own size.
        classifier_mean: per-channel mean subtracted from the [0, 1] images (ImageNet's).
        classifier_std: per-channel standard deviation they are divided by (ImageNet's).
        every_n_epochs: during fit, compute after epochs whose number (from 1) is a multiple of
            this; `validate` and `test` always compute.
        on_sanity_check: also compute in the sanity check before training.
    """

    def __init__(
        self,
        classifier: str,
        classifier_weights: str | None = None,
        classifier_size: int | None = None,
        classifier_mean: Sequence[float] = IMAGENET_MEAN,
        classifier_std: Sequence[float] = IMAGENET_STD,
        every_n_epochs: int = 1,
        on_sanity_check: bool = False,
    ):
        if classifier.startswith(TIMM_PREFIX) != (classifier_weights is not None):
            raise ValueError(
                f"AttributeClassificationError(classifier={classifier!r}, classifier_weights={classifier_weights!r}): "
                f"classifier_weights goes with classifier '{TIMM_PREFIX}<model name>', and only with it"
            )
        if len(classifier_mean) != 3 or len(classifier_std) != 3:
            raise ValueError(
                f"AttributeClassificationError classifier_mean={list(classifier_mean)} and classifier_std={list(classifier_std)} "
                "need 3 values each (R, G, B)"
            )
        super().__init__(every_n_epochs, on_sanity_check)
        self.classifier_spec = classifier
        self.classifier_weights = classifier_weights
        self.classifier_size = classifier_size
        self.mean, self.std = tuple(classifier_mean), tuple(classifier_std)
        self.classifier: nn.Module | None = None
        # Per group of this epoch: [misclassified, evaluated] translations.
        self._counts: dict[str, Tensor] = {}

    # ------------------------------------------------------------------------------ set-up
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Loaded before the sanity check and any training: a missing file stops the run at once.
        # A timm model draws initial weights from torch's RNG, which must not shift the run's.
        if self.classifier is None:
            with torch.random.fork_rng(devices=[]):
                self.classifier = self._load(pl_module)
        # Never trained: evaluated under no_grad (ScriptModules have no requires_grad_).
        self.classifier.eval().to(pl_module.device)
        if stage == TrainerFn.FITTING:
            self.check_checkpoint_schedules(trainer, [LOGGED_NAME])

    def _load(self, pl_module: LightningModule) -> nn.Module:
        spec = self.classifier_spec
        if spec == "demo_tints":
            return DemoTintClassifier()
        if spec.startswith(TIMM_PREFIX):
            domains = _domains(pl_module, "a timm classifier's head")
            network = timm.create_model(spec[len(TIMM_PREFIX):], pretrained=False, num_classes=len(domains))
            state = read_state_dict(
                self.classifier_weights, f"AttributeClassificationError classifier_weights: {spec}'s state dict with {len(domains)} classes"
            )
            return load_into(network, state, f"AttributeClassificationError classifier_weights={self.classifier_weights} does not fit {spec}")
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"AttributeClassificationError(classifier={spec!r}): no such file; expected a TorchScript classifier "
                f"(torch.jit.save), 'demo_tints' or '{TIMM_PREFIX}<model name>' with classifier_weights"
            )
        try:
            return torch.jit.load(str(path), map_location="cpu")  # TorchScript code, no Python pickles
        except RuntimeError as error:
            raise ValueError(f"AttributeClassificationError(classifier={spec!r}) is not a TorchScript file: {str(error).splitlines()[0]}") from None

    # ----------------------------------------------------------------------------- updates
    def update(self, pl_module: LightningModule, outputs: dict[str, EvalImages]) -> None:
        device = pl_module.device
        # The classifier in float32 whatever the training precision.
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            for group, images in outputs.items():
                if images.labels is None:
                    raise ValueError(
                        f"AttributeClassificationError needs each translation's target labels: {type(pl_module).__name__}'s "
                        f"evaluation_images gave group {group!r} no EvalImages.labels"
                    )
                if not len(images.fake):  # none of this batch's images is in the group
                    continue
                errors = self._errors(pl_module, group, self._logits(pl_module, images.fake), images.labels.to(device))
                counts = self._counts.setdefault(group, torch.zeros(2, dtype=torch.long, device=device))
                counts += torch.stack([errors.sum(), torch.tensor(len(errors), device=device)])

    def _logits(self, pl_module: LightningModule, fake: Tensor) -> Tensor:
        pixels = ((fake.float() + 1) / 2).clamp(0, 1)
        if isinstance(self.classifier, DemoTintClassifier):
            # Its columns in the method's domain order.
            names = self.classifier.class_names
            domains = _domains(pl_module, "the demo_tints classifier")
            unknown = [name for name in domains if name not in names]
            if unknown:
                raise ValueError(f"AttributeClassificationError(classifier='demo_tints') knows the tints {list(names)}, not {unknown}")
            return self.classifier(pixels)[:, [names.index(name) for name in domains]]
        if self.classifier_size is not None and pixels.shape[-2:] != (self.classifier_size, self.classifier_size):
            size = (self.classifier_size, self.classifier_size)
            pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.mean, device=pixels.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=pixels.device).view(1, 3, 1, 1)
        return self.classifier((pixels - mean) / std).float()

    def _errors(self, pl_module: LightningModule, group: str, logits: Tensor, labels: Tensor) -> Tensor:
        """Whether each translation is misclassified: (N,) bool."""
        if labels.dim() == 1 and not labels.is_floating_point():  # exclusive: class indices
            return logits.argmax(1) != labels
        if labels.dim() == 2 and logits.shape == labels.shape:  # attributes: the group's one
            domains = _domains(pl_module, "attribute groups")
            if group not in domains:
                raise ValueError(
                    f"AttributeClassificationError: attribute group {group!r} is not among {type(pl_module).__name__}'s domains {domains}"
                )
            k = domains.index(group)
            return (logits[:, k].sigmoid() > 0.5) != (labels[:, k] > 0.5)
        raise ValueError(
            f"AttributeClassificationError: group {group!r} has labels {labels.dtype} {tuple(labels.shape)} and classifier logits "
            f"{tuple(logits.shape)}; expected (N,) class indices, or (N, K) attribute vectors and (N, K) logits"
        )

    # ------------------------------------------------------------------------- results
    def log_and_reset(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        groups = self._align_groups(pl_module.device)
        if not groups:
            return
        # One collective for every group: [misclassified, evaluated] summed over processes.
        errors, totals = trainer.strategy.reduce(torch.stack([self._counts[g] for g in groups]), reduce_op="sum").T
        rates = errors.double() / totals.clamp(min=1)
        logged = {self.metric_name(pl_module, stage, LOGGED_NAME): rates.mean()}
        if len(groups) > 1:
            logged |= {self.metric_name(pl_module, stage, f"{LOGGED_NAME}_{g}"): rate for g, rate in zip(groups, rates)}
        for name, value in logged.items():
            pl_module.log(name, value.float(), sync_dist=True)
        self.logged_names |= set(logged)
        self._counts.clear()

    def _align_groups(self, device: torch.device) -> list[str]:
        """Every group that any process saw, in one order on all (a process that saw none of a
        group's images adds zeros to its sums)."""
        groups = list(self._counts)
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            reports: list[list[str]] = [[] for _ in range(torch.distributed.get_world_size())]
            torch.distributed.all_gather_object(reports, groups)
            groups = list(dict.fromkeys(g for report in reports for g in report))
        for group in groups:
            self._counts.setdefault(group, torch.zeros(2, dtype=torch.long, device=device))
        return groups


def _domains(pl_module: LightningModule, needed_by: str) -> list[str]:
    domains = getattr(pl_module, "domains", None)
    if not domains:
        raise ValueError(f"AttributeClassificationError: {needed_by} needs {type(pl_module).__name__}.domains, the domain or attribute names in label order")
    return list(domains)
