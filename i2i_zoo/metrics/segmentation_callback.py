"""`SegmentationMetrics`: pixel accuracy, mean class accuracy and mean IoU of a method's
translations onto colour label maps (photo -> labels), on validation and test, synced across
processes through torchmetrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

from i2i_zoo.data.demo import SHAPES_PALETTE
from i2i_zoo.data.palette import Palette
from i2i_zoo.data.prepare import HELEN_PALETTE
from i2i_zoo.methods.base import EvalImages
from i2i_zoo.metrics.scheduled import ScheduledEvaluation
from i2i_zoo.metrics.segmentation import CITYSCAPES_PALETTE, PaletteLike, SegmentationScores, labels_from_colour_map

# The palettes `SegmentationMetrics(palette=...)` knows by name.
PALETTES = {
    "cityscapes": CITYSCAPES_PALETTE,
    "helen": Palette(names=tuple(HELEN_PALETTE), colours=tuple(HELEN_PALETTE.values())),
    "demo_shapes": SHAPES_PALETTE,
}
SCORES = ("pixel_accuracy", "mean_class_accuracy", "mean_iou")


class SegmentationMetrics(ScheduledEvaluation):
    """Scores a method's translations onto colour label maps (its `evaluation_images` hook): each
    pixel of `EvalImages.fake` takes the class of the nearest palette colour, each pixel of
    `EvalImages.target` the class of its palette colour (exact, or the nearest within
    `colour_tolerance`; any other colour is ignored), and
    the confusion of all the epoch's images gives pixel accuracy, mean class accuracy and mean
    IoU (`segmentation_scores`, the FCN score's conventions). Logged as `val/pixel_accuracy`,
    `val/mean_class_accuracy`, `val/mean_iou` (`test/...` in test); with several groups scored,
    `val/mean_iou_<group>` and so on (`val/<namespace>...` where the method has a
    `metric_namespace`).

    Args:
        palette: the label maps' colours: `cityscapes` (its 19 train ids), `helen` (the 11 face
            parts `python -m i2i_zoo.data.prepare helen` draws), `demo_shapes` (the built-in
            `shapes` demo's label maps), or a list of [R, G, B] 8-bit colours, one per class.
        groups: the `evaluation_images` groups to score (e.g. [AtoB]); each must come with a
            target. None: every group whose images have a target and 3 channels.
        ignore_index: the class given to target pixels of no palette colour (not counted); must
            not be a class index.
        colour_tolerance: 0 takes only target pixels of exactly a palette colour. Label maps
            stored as JPEG (pix2pix's Cityscapes AB files) have noisy colours: a positive value
            gives a pixel the class of the nearest palette colour within this RGB distance (0-255
            units), else `ignore_index`. Under half the distance of the palette's two closest
            colours (Cityscapes: 20), no pixel can be near two classes.
        every_n_epochs: during fit, compute after epochs whose number (from 1) is a multiple of
            this; `validate` and `test` always compute. Never in the sanity check.
    """

    # Subclasses score other images (FCNScore: a segmenter's classes of the translated photos
    # against `EvalImages.source`): the field holding the true colour maps, the logged names' prefix.
    truth = "target"
    prefix = ""

    def __init__(
        self,
        palette: str | list[list[int]] = "cityscapes",
        groups: Sequence[str] | None = None,
        ignore_index: int = 255,
        every_n_epochs: int = 1,
        colour_tolerance: float = 0.0,
    ):
        name = type(self).__name__
        if colour_tolerance < 0:
            raise ValueError(f"{name}(colour_tolerance={colour_tolerance}) must be >= 0 (an RGB distance in 0-255 units)")
        if isinstance(palette, str) and palette not in PALETTES:
            raise ValueError(f"{name}(palette={palette!r}) is unknown: choose from {sorted(PALETTES)} or give a list of [R, G, B] colours")
        if groups is not None and (isinstance(groups, str) or not groups):
            raise ValueError(f"{name}(groups={groups!r}) must be a non-empty list of group names, or None for every group with a {self.truth}")
        self.palette: PaletteLike = PALETTES[palette] if isinstance(palette, str) else palette
        self._palette_name = repr(palette) if isinstance(palette, str) else f"<{len(palette)} colours>"
        self.groups = None if groups is None else tuple(groups)
        self.ignore_index, self.colour_tolerance = ignore_index, colour_tolerance
        super().__init__(every_n_epochs)
        # Checks the palette and ignore_index now; each group of an epoch scores with a clone.
        self._prototype = SegmentationScores(self.palette, ignore_index)
        self._scores: dict[str, SegmentationScores] = {}
        # This epoch's groups: name -> whether any of its batches had its `truth` images.
        self._seen: dict[str, bool] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == TrainerFn.FITTING:
            self.check_checkpoint_schedules(trainer, [self.prefix + score for score in SCORES])

    # ----------------------------------------------------------------------------- updates
    def update(self, pl_module: LightningModule, outputs: dict[str, EvalImages]) -> None:
        # Metrics in float32 whatever the training precision.
        with torch.no_grad(), torch.autocast(pl_module.device.type, enabled=False):
            for name, images in outputs.items():
                self._seen[name] = self._seen.get(name, False) or getattr(images, self.truth) is not None
                if self._scored(name, images):
                    if name not in self._scores:
                        self._scores[name] = self._prototype.clone().to(pl_module.device)
                    self._scores[name].update(*self.class_maps(images))

    def class_maps(self, images: EvalImages) -> tuple[torch.Tensor, torch.Tensor]:
        """A group's predictions and truth, as `SegmentationScores.update` takes them: the
        translations are colour label maps."""
        return images.fake.float(), labels_from_colour_map(images.target.float(), self.palette, self.ignore_index, self.colour_tolerance)

    def _scored(self, name: str, images: EvalImages) -> bool:
        truth = getattr(images, self.truth)
        channels = (images.fake.shape[1], None if truth is None else truth.shape[1])
        if self.groups is None:
            return channels == (3, 3)
        if name not in self.groups or truth is None:
            return False
        if channels != (3, 3):
            raise ValueError(
                f"{type(self).__name__}(groups={list(self.groups)}): group {name!r} has {channels[0]}-channel translations "
                f"and {channels[1]}-channel {self.truth}s; both must have 3 (RGB)"
            )
        return True

    # ------------------------------------------------------------------------- results
    def log_and_reset(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._align_groups(pl_module)
        missing = [name for name in self.groups or () if name not in self._scores]
        if missing:  # every process raises: all of them see the same groups
            seen = {name: f"with {self.truth}" if truth else f"no {self.truth}" for name, truth in self._seen.items()}
            raise ValueError(
                f"{type(self).__name__}(groups={list(self.groups)}): {missing} had no images with a {self.truth} this {stage} epoch; "
                f"{type(pl_module).__name__}'s evaluation_images gave {seen or 'no group'}"
            )
        results = {name: self._compute(name, metric) for name, metric in self._scores.items()}
        if len(results) == 1:
            logged = {self.metric_name(pl_module, stage, self.prefix + key): value for key, value in next(iter(results.values())).items()}
        else:
            logged = {
                self.metric_name(pl_module, stage, f"{self.prefix}{key}_{name}"): value
                for name, values in results.items()
                for key, value in values.items()
            }
        for name, value in logged.items():
            pl_module.log(name, value.float(), sync_dist=True)
        self.logged_names |= set(logged)
        # Next epoch starts afresh: a group that is not evaluated again is not logged again.
        self._scores.clear()
        self._seen.clear()

    def _align_groups(self, pl_module: LightningModule) -> None:
        """Under DDP, every group that any process scored (or saw), in one order on all: a process
        that evaluated none of a group's images still takes part in its metric's sync."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()) or torch.distributed.get_world_size() == 1:
            return
        reports: list[dict] = [{} for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather_object(reports, {"scored": list(self._scores), "seen": self._seen})
        for report in reports:
            for name, target in report["seen"].items():
                self._seen[name] = self._seen.get(name, False) or target
        for name in sorted({name for report in reports for name in report["scored"]}):
            if name not in self._scores:
                self._scores[name] = self._prototype.clone().to(pl_module.device)
        self._scores = dict(sorted(self._scores.items()))

    def _compute(self, group: str, metric: SegmentationScores) -> dict[str, torch.Tensor]:
        try:
            scores = metric.compute()
        except ValueError as error:  # no true pixel of a palette colour: most likely the wrong palette
            raise ValueError(
                f"{type(self).__name__}(palette={self._palette_name}): no {self.truth} pixel of group {group!r} has a colour "
                f"of the palette; are the {self.truth} images colour label maps in that palette?"
            ) from error
        return {key: scores[key] for key in SCORES}
