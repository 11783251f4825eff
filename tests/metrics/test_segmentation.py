"""Segmentation scores of colour label maps against hand-computed 4 x 4 examples."""

import math

import pytest
import torch

from i2i_zoo.metrics import (
    CITYSCAPES_PALETTE,
    SegmentationScores,
    confusion_matrix,
    labels_from_colour_map,
    nearest_palette_labels,
    segmentation_scores,
)

RGB = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]  # classes 0, 1, 2
IGNORE = 255

# The true classes (255: ignored) and a prediction; confusion[true, predicted], read row by row:
#   true 0 (6 pixels): predicted 0 at 4, 1 at 1, 2 at 1   -> [4, 1, 1]
#   true 1 (6 pixels): predicted 0 at 1, 1 at 5           -> [1, 5, 0]
#   true 2 (3 pixels): predicted 1 at 1, 2 at 2           -> [0, 1, 2]
#   the ignored pixel's prediction (0) is not counted.
TRUE = torch.tensor([[0, 0, 0, 0],
                     [0, 0, 1, 1],
                     [1, 1, 1, 1],
                     [2, 2, 2, IGNORE]])
PREDICTED = torch.tensor([[0, 0, 0, 1],
                          [0, 2, 1, 1],
                          [1, 1, 0, 1],
                          [2, 2, 1, 0]])
CONFUSION = torch.tensor([[4, 1, 1], [1, 5, 0], [0, 1, 2]])
# pixel accuracy (4 + 5 + 2) / 15; class accuracy 4/6, 5/6, 2/3, mean 13/18;
# IoU = correct / (true + predicted - correct): 4 / (6 + 5 - 4) = 4/7, 5 / (6 + 7 - 5) = 5/8,
# 2 / (3 + 3 - 2) = 1/2, mean (32 + 35 + 28) / 56 / 3 = 95/168.
EXPECTED = {"pixel_accuracy": 11 / 15, "mean_class_accuracy": 13 / 18, "mean_iou": 95 / 168}


def colour_map(labels: torch.Tensor, palette=RGB, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """N x H x W classes as N x 3 x H x W colour maps in [-1, 1], with uniform noise of +-noise levels."""
    colours = torch.tensor(palette + [(0, 0, 0)], dtype=torch.float32)  # black for ignored pixels
    values = colours[labels.clamp_max(len(palette))].permute(0, 3, 1, 2)
    generator = torch.Generator().manual_seed(seed)
    values = values + (torch.rand(values.shape, generator=generator) * 2 - 1) * noise
    return values / 127.5 - 1


def test_hand_computed_scores():
    confusion = confusion_matrix(PREDICTED[None], TRUE[None], num_classes=3, ignore_index=IGNORE)
    assert confusion.dtype == torch.int64
    assert torch.equal(confusion, CONFUSION)
    scores = segmentation_scores(confusion)
    for name, value in EXPECTED.items():
        assert scores[name].item() == pytest.approx(value, abs=1e-12)
    assert scores["class_iou"].tolist() == pytest.approx([4 / 7, 5 / 8, 1 / 2])
    assert scores["class_accuracy"].tolist() == pytest.approx([4 / 6, 5 / 6, 2 / 3])


def test_scores_from_perturbed_colour_maps_match_the_class_maps():
    # Up to 40 levels of noise per channel: still far nearer its own colour (255 levels away from the others).
    fake = colour_map(PREDICTED[None], noise=40.0)
    assert torch.equal(nearest_palette_labels(fake, RGB), PREDICTED[None])
    metric = SegmentationScores(RGB, ignore_index=IGNORE)
    metric.update(fake, colour_map(TRUE[None]))  # the ignored pixel is black, outside the palette
    scores = metric.compute()
    for name, value in EXPECTED.items():
        assert scores[name].item() == pytest.approx(value, abs=1e-12)


def test_nearest_colour_of_off_palette_pixels():
    # (100, 160, 90): squared distances to red 155^2 + 160^2 + 90^2 = 57725, to green
    # 100^2 + 95^2 + 90^2 = 27125, to blue 100^2 + 160^2 + 165^2 = 62825 -> green.
    # (200, 30, 180): red 55^2 + 30^2 + 180^2 = 36445, green 200^2 + 225^2 + 180^2 = 122025,
    # blue 200^2 + 30^2 + 75^2 = 46525 -> red.
    pixels = torch.tensor([[100, 160, 90], [200, 30, 180]], dtype=torch.float32)
    images = (pixels.T.reshape(1, 3, 1, 2)) / 127.5 - 1
    assert nearest_palette_labels(images, RGB).tolist() == [[[1, 0]]]


def test_true_colour_maps_match_exact_colours_only():
    # Classes 0, 1, 2, then a colour one level off blue and one outside the palette: both ignored.
    pixels = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 254], [10, 10, 10]], dtype=torch.float32)
    images = pixels.T.reshape(1, 3, 1, 5) / 127.5 - 1
    expected = [[[0, 1, 2, IGNORE, IGNORE]]]
    assert labels_from_colour_map(images, RGB, ignore_index=IGNORE).tolist() == expected
    # The float error of an 8-bit map's [-1, 1] conversion is rounded away.
    assert labels_from_colour_map(images + 1e-3, RGB, ignore_index=IGNORE).tolist() == expected
    assert labels_from_colour_map(images, RGB, ignore_index=-1).tolist() == [[[0, 1, 2, -1, -1]]]


def test_ignored_pixels_are_not_counted():
    true = torch.full((1, 4, 4), IGNORE)
    true[0, 0, :2] = 1
    predicted = torch.full((1, 4, 4), 2)  # wrong everywhere but the two scored pixels
    predicted[0, 0, :2] = 1
    confusion = confusion_matrix(predicted, true, num_classes=3, ignore_index=IGNORE)
    assert confusion.sum() == 2 and confusion[1, 1] == 2
    assert segmentation_scores(confusion)["pixel_accuracy"] == 1.0


def test_classes_absent_from_both_maps_are_left_out_of_the_means():
    # A fourth class, in neither map: no accuracy and no IoU, the means those of the three others.
    scores = segmentation_scores(confusion_matrix(PREDICTED[None], TRUE[None], num_classes=4, ignore_index=IGNORE))
    for name, value in EXPECTED.items():
        assert scores[name].item() == pytest.approx(value, abs=1e-12)
    assert math.isnan(scores["class_iou"][3]) and math.isnan(scores["class_accuracy"][3])


def test_a_class_only_predicted_counts_in_the_mean_iou_only():
    # True [0, 0], predicted [0, 1]: confusion [[1, 1], [0, 0]]. Class accuracy 1/2 and 0/0 (left
    # out): mean 1/2. IoU 1 / (2 + 1 - 1) = 1/2 and 0 / (0 + 1 - 0) = 0: mean 1/4.
    scores = segmentation_scores(confusion_matrix(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]), 2))
    assert scores["mean_class_accuracy"].item() == pytest.approx(1 / 2)
    assert scores["mean_iou"].item() == pytest.approx(1 / 4)


def test_batch_confusion_is_the_sum_over_images():
    generator = torch.Generator().manual_seed(0)
    predicted = torch.randint(0, 5, (3, 8, 8), generator=generator)
    ignored = torch.rand(3, 8, 8, generator=generator) < 0.2
    true = torch.randint(0, 6, (3, 8, 8), generator=generator).masked_fill(ignored, IGNORE)
    assert ignored.any()
    batch = confusion_matrix(predicted, true, 6, IGNORE)
    singles = sum(confusion_matrix(p[None], t[None], 6, IGNORE) for p, t in zip(predicted, true))
    assert torch.equal(batch, singles)
    assert batch.sum() == (true != IGNORE).sum()


def test_metric_accumulates_over_updates_as_the_one_shot_scores():
    generator = torch.Generator().manual_seed(1)
    true = torch.randint(0, 3, (4, 6, 6), generator=generator)
    predicted = torch.where(torch.rand(4, 6, 6, generator=generator) < 0.7, true, torch.randint(0, 3, (4, 6, 6), generator=generator))
    fake = colour_map(predicted, noise=30.0)
    metric = SegmentationScores(RGB)
    metric.update(fake[:1], true[:1])
    metric.update(fake[1:], colour_map(true[1:]))  # class maps and colour maps alike
    one_shot = segmentation_scores(confusion_matrix(predicted, true, 3))
    accumulated = metric.compute()
    assert accumulated.keys() == one_shot.keys()
    for name in one_shot:
        assert torch.allclose(accumulated[name], one_shot[name], equal_nan=True)
    metric.reset()
    assert metric.confusion.sum() == 0


def test_cityscapes_palette_round_trips():
    assert len(CITYSCAPES_PALETTE) == 19 and CITYSCAPES_PALETTE.names[0] == "road"
    assert CITYSCAPES_PALETTE.colours[CITYSCAPES_PALETTE.names.index("car")] == (0, 0, 142)
    colours = torch.tensor(CITYSCAPES_PALETTE.colours, dtype=torch.float32)
    images = colours.T.reshape(1, 3, 1, 19) / 127.5 - 1
    classes = [list(range(19))]
    assert nearest_palette_labels(images, CITYSCAPES_PALETTE).tolist() == [classes]
    assert labels_from_colour_map(images, CITYSCAPES_PALETTE).tolist() == [classes]


@pytest.mark.parametrize("images", [torch.zeros(1, 1, 4, 4), torch.zeros(3, 4, 4), torch.zeros(1, 3, 4, 4, dtype=torch.uint8)])
def test_images_must_be_float_rgb_batches(images):
    with pytest.raises(ValueError, match=r"images must be float N x 3 x H x W"):
        nearest_palette_labels(images, RGB)
    with pytest.raises(ValueError, match=r"images must be float N x 3 x H x W"):
        labels_from_colour_map(images, RGB)


@pytest.mark.parametrize("palette, message", [
    ([(1, 2, 3, 4)], r"palette must be K x 3 RGB colours .* got shape \(1, 4\)"),
    ([1, 2, 3], r"palette must be K x 3 RGB colours .* got shape \(3,\)"),
    ([(0, 0, 300)], r"palette colours must be in 0-255"),
    ([(0, 0, 1), (0, 0, 1)], r"palette has a colour twice"),
])
def test_palette_is_checked(palette, message):
    with pytest.raises(ValueError, match=message):
        SegmentationScores(palette)


def test_label_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"ignore_index must not be a class index in \[0, 3\), got 2"):
        SegmentationScores(RGB, ignore_index=2)
    with pytest.raises(ValueError, match=r"same shape, got \(1, 4, 4\) and \(1, 4, 3\)"):
        confusion_matrix(PREDICTED[None], TRUE[None, :, :3], 3)
    with pytest.raises(ValueError, match=r"target holds class indices outside \[0, 2\)"):
        confusion_matrix(PREDICTED[None] % 2, TRUE[None], 2)
    with pytest.raises(ValueError, match=r"predicted must hold integer class indices"):
        confusion_matrix(PREDICTED[None].float(), TRUE[None], 3)
    with pytest.raises(ValueError, match=r"true must be N x H x W class indices or N x 3 x H x W colour maps"):
        SegmentationScores(RGB).update(colour_map(PREDICTED[None]), TRUE)
    with pytest.raises(ValueError, match=r"confusion counts no pixel"):
        segmentation_scores(torch.zeros(3, 3, dtype=torch.int64))
