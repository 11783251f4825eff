"""Segmentation scores of translated colour label maps (pix2pix's photo -> labels, AsymGAN's
Table I): each pixel of a generated map takes the class of the nearest palette colour, and the
class map is scored against the true one by pixel accuracy, mean class accuracy and mean IoU.

Conventions, as in the FCN score of Long et al. and pix2pix's Cityscapes evaluation:
- the confusion matrix counts `confusion[true, predicted]`; true pixels with the ignore label
  are left out;
- mean class accuracy averages the classes present in the truth (the others have no accuracy,
  0 / 0); mean IoU averages the classes present in the truth or the prediction (a class absent
  from both has no IoU, 0 / 0). Per-class values of those classes are NaN. (pix2pix's script
  adds 1e-12 to the denominators, so it averages such classes in as 0; over Cityscapes' 500
  validation images every class is present and the two agree.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from i2i_zoo.data.palette import Palette

# The 19 classes of Cityscapes' train ids, colours from the Cityscapes scripts' labels.py.
CITYSCAPES_PALETTE = Palette(
    names=("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
           "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"),
    colours=((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
             (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
             (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)),
)

PaletteLike = Palette | Tensor | Sequence[Sequence[int]]


def nearest_palette_labels(images: Tensor, palette: PaletteLike) -> Tensor:
    """The class of each pixel of N x 3 x H x W colour maps in [-1, 1]: that of the palette colour
    nearest in RGB (Euclidean, in 0-255 units; a tie goes to the lower class index). N x H x W int64."""
    colours = _palette_tensor(palette).to(images.device, torch.float32)
    return _nearest(_pixels_0_255(images, "images").float(), colours)


def labels_from_colour_map(images: Tensor, palette: PaletteLike, ignore_index: int = 255, tolerance: float = 0.0) -> Tensor:
    """The class map of TRUE N x 3 x H x W colour label maps in [-1, 1]: a pixel of exactly a
    palette colour takes its class, any other pixel `ignore_index` (unlabelled or not evaluated).

    Pixels are first rounded to 8 bits, so the float error of the [-1, 1] conversion of an 8-bit
    map does not matter. With `tolerance` 0, colours off by a level or more are not matched, as a
    true map should hold its labels exactly. A map stored lossily (JPEG, such as pix2pix's
    Cityscapes AB files) has noisy colours: a positive `tolerance` gives a pixel the class of the
    nearest palette colour when that lies within this RGB distance (Euclidean, 0-255 units), and
    `ignore_index` otherwise. N x H x W int64.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 (an RGB distance in 0-255 units), got {tolerance}")
    colours = _palette_tensor(palette).to(images.device, torch.int64)
    _check_ignore_index(ignore_index, len(colours))
    pixels = _pixels_0_255(images, "images").round().long()
    if tolerance > 0:
        labels = _nearest(pixels.float(), colours.float())
        # The distance to the chosen colour recomputed exactly (integers), not from the expansion.
        far = (pixels - colours[labels]).square().sum(-1) > tolerance**2
        return labels.masked_fill(far, ignore_index)
    matches = (pixels[..., None, :] == colours).all(-1)  # N x H x W x K
    labels = matches.long().argmax(-1)
    return labels.masked_fill(~matches.any(-1), ignore_index)


def _nearest(pixels: Tensor, colours: Tensor) -> Tensor:
    """The index of the nearest of K x 3 `colours` for N x H x W x 3 pixels, both float 0-255."""
    # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, and ||x||^2 is the same for every c: an N*H*W x K
    # matrix instead of the N*H*W x K x 3 differences (Cityscapes-size maps stay small).
    distances = colours.square().sum(1) - 2 * pixels @ colours.T
    return distances.argmin(-1)


def confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """The K x K int64 counts of `confusion[true, predicted]` over pixels of N x H x W class maps
    (integer tensors); pixels whose target is `ignore_index` are not counted."""
    _check_ignore_index(ignore_index, num_classes)
    for name, labels in (("predicted", predicted), ("target", target)):
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target must have the same shape, got {tuple(predicted.shape)} and {tuple(target.shape)}")
    kept = target != ignore_index
    predicted, target = predicted[kept].long(), target[kept].long()
    for name, labels in (("predicted", predicted), ("target", target)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} holds class indices outside [0, {num_classes}) (num_classes={num_classes}, "
                             f"ignore_index={ignore_index}): got values from {labels.min().item()} to {labels.max().item()}")
    counts = torch.bincount(target * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def segmentation_scores(confusion: Tensor) -> dict[str, Tensor]:
    """Scores of a K x K `confusion[true, predicted]` matrix, float64: `pixel_accuracy`,
    `mean_class_accuracy`, `mean_iou`, and per class `class_accuracy` and `class_iou` (NaN where
    undefined and left out of the means: see the module's docstring)."""
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a K x K matrix, got shape {tuple(confusion.shape)}")
    confusion = confusion.double()
    total = confusion.sum()
    if total == 0:
        raise ValueError("confusion counts no pixel: every target pixel was ignore_index, or nothing was updated")
    correct = confusion.diagonal()
    true_counts, predicted_counts = confusion.sum(1), confusion.sum(0)
    # 0 / 0 gives NaN for the classes the means leave out.
    class_accuracy = correct / true_counts
    class_iou = correct / (true_counts + predicted_counts - correct)
    return {
        "pixel_accuracy": correct.sum() / total,
        "mean_class_accuracy": class_accuracy.nanmean(),
        "mean_iou": class_iou.nanmean(),
        "class_accuracy": class_accuracy,
        "class_iou": class_iou,
    }


class SegmentationScores(Metric):
    """`segmentation_scores` of generated colour maps, accumulated over batches. The confusion
    matrix is a sum state, so the scores are those of all processes' images under DDP.

    `update(fake, true)`: `fake` either N x 3 x H x W colour maps in [-1, 1] (nearest palette
    colour) or N x H x W integer class maps (a segmenter's, FCNScore); `true` either N x H x W
    integer class maps or N x 3 x H x W colour maps in [-1, 1] (`labels_from_colour_map`: colours
    outside the palette are ignored).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, palette: PaletteLike = CITYSCAPES_PALETTE, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        colours = _palette_tensor(palette)
        _check_ignore_index(ignore_index, len(colours))
        self.palette = colours
        self.ignore_index = ignore_index
        self.add_state("confusion", torch.zeros(len(colours), len(colours), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, fake: Tensor, true: Tensor) -> None:
        if true.ndim == 4:
            true = labels_from_colour_map(true, self.palette, self.ignore_index)
        elif true.ndim != 3:
            raise ValueError(f"true must be N x H x W class indices or N x 3 x H x W colour maps, got shape {tuple(true.shape)}")
        predicted = nearest_palette_labels(fake, self.palette) if fake.ndim == 4 else fake
        self.confusion += confusion_matrix(predicted, true, len(self.palette), self.ignore_index)

    def compute(self) -> dict[str, Tensor]:
        return segmentation_scores(self.confusion)


def _palette_tensor(palette: PaletteLike) -> Tensor:
    """A K x 3 int64 tensor of 0-255 colours, checked."""
    colours = torch.as_tensor(palette.colours if isinstance(palette, Palette) else palette)
    if colours.ndim != 2 or colours.shape[1] != 3 or len(colours) == 0:
        raise ValueError(f"palette must be K x 3 RGB colours (K >= 1), got shape {tuple(colours.shape)}")
    if colours.dtype.is_floating_point and not torch.equal(colours, colours.round()):
        raise ValueError("palette colours must be whole 0-255 values")
    colours = colours.long()
    if colours.min() < 0 or colours.max() > 255:
        raise ValueError(f"palette colours must be in 0-255, got values from {colours.min().item()} to {colours.max().item()}")
    if len(colours.unique(dim=0)) != len(colours):
        raise ValueError("palette has a colour twice; each class needs its own colour")
    return colours


def _pixels_0_255(images: Tensor, name: str) -> Tensor:
    """N x 3 x H x W images in [-1, 1] as N x H x W x 3 values in 0-255 (not rounded)."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.dtype.is_floating_point:
        raise ValueError(f"{name} must be float N x 3 x H x W RGB maps in [-1, 1], got {images.dtype} of shape {tuple(images.shape)}")
    return (images.permute(0, 2, 3, 1) + 1) * 127.5


def _check_ignore_index(ignore_index: int, num_classes: int) -> None:
    if 0 <= ignore_index < num_classes:
        raise ValueError(f"ignore_index must not be a class index in [0, {num_classes}), got {ignore_index}")
