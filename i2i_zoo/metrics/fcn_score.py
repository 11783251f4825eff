"""`FCNScore`: the FCN score of translations onto photos (label map -> photo, the Cityscapes
protocol of pix2pix, CycleGAN, SPL and AsymGAN): a segmentation network segments each translated
photo, and its classes are scored against the label map the photo was made from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn

from i2i_zoo.methods.base import EvalImages
from i2i_zoo.metrics.attribute_error import IMAGENET_MEAN, IMAGENET_STD
from i2i_zoo.metrics.segmentation import labels_from_colour_map
from i2i_zoo.metrics.segmentation_callback import SegmentationMetrics
from i2i_zoo.weights import hub_checkpoints, load_into, read_state_dict, resolve_weights

# torchvision's segmentation architectures, which `segmenter` may name.
SEGMENTERS = tuple(torchvision.models.list_models(module=torchvision.models.segmentation))
SEGMENTER_WEIGHTS_ENV = "I2I_ZOO_SEGMENTER_WEIGHTS"
INPUT_NORMALIZATIONS = ("imagenet", "unit", "none")
InputNormalization = Literal[INPUT_NORMALIZATIONS]


class FCNScore(SegmentationMetrics):
    """The FCN score of translations onto photos: `segmenter` segments each translated photo
    (`EvalImages.fake`) and its per-pixel classes are scored against the colour label map it was
    translated from (`EvalImages.source`; pixels of no palette colour are ignored) by pixel
    accuracy, mean class accuracy and mean IoU (`segmentation_scores`). Logged as
    `val/fcn_pixel_accuracy`, `val/fcn_mean_class_accuracy`, `val/fcn_mean_iou` (`test/...` in
    test), with `_<group>` suffixes when several groups are scored, as SegmentationMetrics names
    them. Synced across processes; computed in float32 on every `every_n_epochs`-th epoch of fit,
    always in validate and test, never in the sanity check.

    The segmenter lives in this callback, never in the method (it would enter every checkpoint),
    and runs in eval mode without gradients on the method's device. Scores are comparable only
    between runs scored by the same network (see docs/metrics.md).

    Args:
        segmenter: a torchvision segmentation architecture (`fcn_resnet50`, `deeplabv3_resnet50`,
            `lraspp_mobilenet_v3_large`, ...: `SEGMENTERS`) built with one output class per
            palette colour and loaded from `segmenter_weights`; or any `nn.Module` (a Python
            object, or a `class_path` in a recipe) mapping N x 3 x H x W photos, prepared as
            `input_normalization` says, to N x K x h x w class scores (or a dict holding them
            under "out", as torchvision's models return), K the palette's classes.
        groups: the `evaluation_images` groups whose translations are photos made from label maps
            (e.g. [BtoA]); each must come with `EvalImages.source`.
        segmenter_weights: the state dict (read with weights_only) of the torchvision
            architecture; else `$I2I_ZOO_SEGMENTER_WEIGHTS`, else
            `<torch hub>/checkpoints/<segmenter>_<palette>.pth` for a named palette. Never random
            weights: without a file the run stops with an error saying where to put one. Only
            with an architecture name.
        palette: the label maps' colours, as SegmentationMetrics takes them (`cityscapes`,
            `helen`, `demo_shapes` or a list of [R, G, B] colours), in the segmenter's class order.
        ignore_index: the class of label-map pixels of no palette colour (not counted).
        colour_tolerance: 0 takes only label-map pixels of exactly a palette colour. A label map
            stored as JPEG has noisy colours: a positive value gives a pixel the class of the
            nearest palette colour within this RGB distance (0-255 units), else `ignore_index`.
        input_normalization: how the segmenter takes photos: `imagenet` ([0, 1] less ImageNet's
            mean, over its standard deviation, as torchvision's models), `unit` ([0, 1]) or `none`
            ([-1, 1], as the zoo holds images).
        input_size: the size (a side, or [height, width]) the photos are resized to before
            segmenting (bilinear); the predicted classes are resized back to the label map's size
            (nearest), so pixels are always counted at the label map's resolution. None: as they are.
        every_n_epochs: during fit, compute after epochs whose number (from 1) is a multiple of
            this; `validate` and `test` always compute.
    """

    truth = "source"
    prefix = "fcn_"

    def __init__(
        self,
        segmenter: str | nn.Module,
        groups: Sequence[str],
        segmenter_weights: str | None = None,
        palette: str | list[list[int]] = "cityscapes",
        ignore_index: int = 255,
        colour_tolerance: float = 0.0,
        input_normalization: InputNormalization = "imagenet",
        input_size: int | tuple[int, int] | None = None,
        every_n_epochs: int = 1,
    ):
        if groups is None:
            raise ValueError("FCNScore(groups=None): name the groups whose translations are photos made from label maps, e.g. [BtoA]")
        if isinstance(segmenter, str):
            if segmenter not in SEGMENTERS:
                raise ValueError(
                    f"FCNScore(segmenter={segmenter!r}) is no torchvision segmentation architecture; choose from {list(SEGMENTERS)} or give an nn.Module"
                )
        elif not isinstance(segmenter, nn.Module):
            raise TypeError(f"FCNScore(segmenter=...) takes a torchvision architecture name or an nn.Module, got {type(segmenter).__name__}")
        elif segmenter_weights is not None:
            raise ValueError(f"FCNScore(segmenter_weights={segmenter_weights!r}) goes with a torchvision architecture name, not with an nn.Module")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(f"FCNScore(input_normalization={input_normalization!r}) is unknown; choose one of {INPUT_NORMALIZATIONS}")
        size = (input_size, input_size) if isinstance(input_size, int) else input_size
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f"FCNScore(input_size={input_size!r}) must be a side or [height, width], positive")
        super().__init__(palette, groups, ignore_index, every_n_epochs, colour_tolerance)
        self.segmenter_spec = segmenter
        self.segmenter_weights = segmenter_weights
        self.input_normalization = input_normalization
        self.input_size = None if size is None else tuple(size)
        self.segmenter: nn.Module | None = segmenter if isinstance(segmenter, nn.Module) else None
        self._named_palette = palette if isinstance(palette, str) else None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == TrainerFn.PREDICTING:  # a recipe's metric callbacks stay in predict runs
            return
        # Loaded before the sanity check and any training: a missing file stops the run at once.
        if self.segmenter is None:
            self.segmenter = self._load()
        self.segmenter.eval().to(pl_module.device)
        super().setup(trainer, pl_module, stage)

    def _load(self) -> nn.Module:
        name, classes = self.segmenter_spec, len(self.palette)
        what = f"FCNScore segmenter_weights: a state dict of torchvision's {name} with {classes} classes (the palette's)"
        candidates = [hub_checkpoints() / f"{name}_{self._named_palette}.pth"] if self._named_palette else []
        path = resolve_weights(
            self.segmenter_weights, option="FCNScore segmenter_weights", env=SEGMENTER_WEIGHTS_ENV, candidates=candidates, what=what
        )
        state = read_state_dict(path, what)
        # A network trained with torchvision's auxiliary loss keeps that head in its state dict.
        options = {"aux_loss": True} if any(key.startswith("aux_classifier.") for key in state) else {}
        # Its initial weights are replaced, but drawing them must not shift the run's RNG.
        with torch.random.fork_rng(devices=[]):
            network = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=classes, **options)
        return load_into(network, state, f"FCNScore segmenter_weights={path} does not fit {name} with {classes} classes")

    # ----------------------------------------------------------------------------- updates
    def class_maps(self, images: EvalImages) -> tuple[Tensor, Tensor]:
        """The segmenter's classes of the translated photos and the label maps' classes, both
        N x H x W at the label maps' size."""
        true = labels_from_colour_map(images.source.float(), self.palette, self.ignore_index, self.colour_tolerance)
        return self.segment(images.fake.float(), true.shape[-2:]), true

    def segment(self, photos: Tensor, size: Sequence[int]) -> Tensor:
        """The class of each pixel of N x 3 x H x W photos in [-1, 1], N x `size` int64."""
        inputs = photos
        if self.input_size is not None and tuple(inputs.shape[-2:]) != self.input_size:
            inputs = F.interpolate(inputs, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        if self.input_normalization != "none":
            inputs = ((inputs + 1) / 2).clamp(0, 1)
        if self.input_normalization == "imagenet":
            mean = torch.tensor(IMAGENET_MEAN, device=inputs.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=inputs.device).view(1, 3, 1, 1)
            inputs = (inputs - mean) / std
        scores = self.segmenter(inputs)
        if isinstance(scores, Mapping):  # torchvision's models return {"out": ..., "aux": ...}
            if "out" not in scores:
                raise ValueError(f"FCNScore: the segmenter returned a dict with keys {list(scores)}; expected the class scores under 'out'")
            scores = scores["out"]
        classes = len(self.palette)
        if scores.ndim != 4 or scores.shape[1] != classes:
            raise ValueError(
                f"FCNScore: the segmenter gave scores of shape {tuple(scores.shape)}; expected N x {classes} x h x w, one channel per palette class"
            )
        predicted = scores.argmax(1)
        if tuple(predicted.shape[-2:]) != tuple(size):
            predicted = F.interpolate(predicted[:, None].float(), size=tuple(size), mode="nearest-exact")[:, 0].long()
        return predicted
