"""SegmentationMetrics through the Trainer: hand-computed scores, palettes by name and by list,
group selection and its errors, the fit schedule; SHAPES_PALETTE against the demo's label maps."""

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.data import list_images, read_image
from i2i_zoo.data.demo import SHAPES_PALETTE, ensure_demo
from i2i_zoo.data.prepare import HELEN_PALETTE
from i2i_zoo.methods import EvalImages
from i2i_zoo.metrics import CITYSCAPES_PALETTE, SegmentationMetrics

BLACK, RED, BLUE, GREEN = (0, 0, 0), (255, 0, 0), (0, 0, 255), (10, 200, 10)
PALETTE = [list(BLACK), list(RED), list(BLUE)]  # classes 0, 1, 2; GREEN is no class


def colour_maps(*images: list[tuple[int, int, int]]) -> torch.Tensor:
    """N x 3 x 1 x W maps in [-1, 1], one row of 8-bit RGB colours per image."""
    return torch.tensor(images, dtype=torch.float32)[:, None].permute(0, 3, 1, 2) / 127.5 - 1


# Targets and translations of two 1 x 3 images. Nearest palette colours of the translations:
# (20, 10, 0) -> black; (230, 20, 20), (180, 40, 60) -> red; (150, 0, 120) -> red (squared
# distances 25425 to red, 36900 to black, 40725 to blue). The GREEN target pixel is ignored.
TARGET = colour_maps([BLACK, BLACK, RED], [RED, BLUE, GREEN])
FAKE = colour_maps([(20, 10, 0), (230, 20, 20), RED], [(180, 40, 60), (150, 0, 120), BLUE])
# confusion[true, predicted] = [[1, 1, 0], [0, 2, 0], [0, 1, 0]] over the 5 counted pixels:
# pixel accuracy (1 + 2 + 0) / 5 = 0.6; class accuracies 1/2, 2/2, 0/1 -> mean 0.5;
# IoUs 1 / (2 + 1 - 1) = 1/2, 2 / (2 + 4 - 2) = 1/2, 0 / (1 + 0 - 0) = 0 -> mean 1/3.
HAND_SCORES = {"pixel_accuracy": 0.6, "mean_class_accuracy": 0.5, "mean_iou": 1 / 3}


class StoredMaps(LightningModule):
    """A method stand-in: validation_step/test_step return each group's stored images of the
    batch's indices; `logged` records every (sanity check?, epoch, name, value) logged."""

    def __init__(self, groups: dict[str, EvalImages]):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(()))
        self.logged: list[tuple[bool, int, str, float]] = []

    def training_step(self, batch, batch_idx):
        return self.weight.square()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def validation_step(self, index, batch_idx):
        return {
            name: EvalImages(fake=images.fake[index], target=None if images.target is None else images.target[index])
            for name, images in self.groups.items()
        }

    test_step = validation_step

    def log(self, name, value, *args, **kwargs):
        self.logged.append((self.trainer.sanity_checking, self.current_epoch, name, float(value)))
        super().log(name, value, *args, **kwargs)


def trainer(callback: SegmentationMetrics, **options) -> Trainer:
    options = {"accelerator": "cpu", "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
               "enable_model_summary": False, **options}  # fmt: skip
    return Trainer(callbacks=[callback], **options)


def indices() -> DataLoader:
    return DataLoader(range(len(TARGET)), batch_size=1)  # two batches: scores accumulate


def scores(maps: dict[str, EvalImages], stage: str = "validate", **options) -> dict[str, float]:
    callback = SegmentationMetrics(**{"palette": PALETTE, **options})
    (logged,) = getattr(trainer(callback), stage)(StoredMaps(maps), dataloaders=indices(), verbose=False)
    return logged


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_scores_match_a_hand_computation(stage):
    prefix = "val" if stage == "validate" else "test"
    logged = scores({"XtoY": EvalImages(fake=FAKE, target=TARGET)}, stage)
    assert logged == pytest.approx({f"{prefix}/{name}": value for name, value in HAND_SCORES.items()})


def test_colour_tolerance_reads_noisy_target_colours_as_their_class():
    """A JPEG-like target: each colour a few units off. Matched exactly, no target pixel has a
    palette colour (an error says so); within the tolerance the hand scores return."""
    noisy = colour_maps([(3, 2, 0), (0, 4, 1), (251, 3, 2)], [(250, 0, 5), (2, 1, 249), GREEN])
    with pytest.raises(ValueError, match="no target pixel of group .XtoY. has a colour of the palette"):
        scores({"XtoY": EvalImages(fake=FAKE, target=noisy)})
    logged = scores({"XtoY": EvalImages(fake=FAKE, target=noisy)}, colour_tolerance=9)
    assert logged == pytest.approx({f"val/{name}": value for name, value in HAND_SCORES.items()})
    with pytest.raises(ValueError, match=r"SegmentationMetrics\(colour_tolerance=-1\) must be >= 0"):
        SegmentationMetrics(colour_tolerance=-1)


def test_groups_with_targets_are_scored_and_suffixed_with_several():
    exact = EvalImages(fake=TARGET, target=TARGET)  # every counted pixel right: all scores 1
    groups = {
        "XtoY": EvalImages(fake=FAKE, target=TARGET),
        "YtoX": exact,
        "unaligned": EvalImages(fake=FAKE),  # no target: not scored
        "gray": EvalImages(fake=FAKE[:, :1], target=TARGET[:, :1]),  # not colour maps: not scored
    }
    expected = {f"val/{name}_XtoY": value for name, value in HAND_SCORES.items()} | {f"val/{name}_YtoX": 1.0 for name in HAND_SCORES}
    assert scores(groups) == pytest.approx(expected)
    # Named groups only, unsuffixed when one is named.
    assert scores(groups, groups=["YtoX"]) == pytest.approx({f"val/{name}": 1.0 for name in HAND_SCORES})


def test_a_named_group_missing_or_without_target_is_an_error():
    groups = {"XtoY": EvalImages(fake=FAKE, target=TARGET), "YtoX": EvalImages(fake=FAKE)}
    with pytest.raises(ValueError, match=r"\['ZtoW'\] had no images with a target.*'XtoY': 'with target', 'YtoX': 'no target'"):
        scores(groups, groups=["XtoY", "ZtoW"])
    with pytest.raises(ValueError, match=r"\['YtoX'\] had no images with a target"):
        scores(groups, groups=["YtoX"])
    with pytest.raises(ValueError, match="group 'gray' has 1-channel translations and 1-channel targets"):
        scores({"gray": EvalImages(fake=FAKE[:, :1], target=TARGET[:, :1])}, groups=["gray"])
    # No target pixel in the palette: the wrong palette, said so.
    with pytest.raises(ValueError, match=r"palette='demo_shapes'\): no target pixel of group 'XtoY'"):
        scores(groups, palette="demo_shapes")


def test_palettes_by_name_and_by_list():
    assert SegmentationMetrics().palette is CITYSCAPES_PALETTE
    assert SegmentationMetrics("demo_shapes").palette is SHAPES_PALETTE
    helen = SegmentationMetrics("helen").palette
    assert helen.names[:2] == ("background", "face skin") and helen.colours[:2] == ((0, 0, 0), (255, 204, 153))
    assert len(helen) == len(HELEN_PALETTE) == 11
    assert SegmentationMetrics(PALETTE).palette == PALETTE
    with pytest.raises(ValueError, match=r"palette='pascal'\) is unknown: choose from \['cityscapes', 'demo_shapes', 'helen'\]"):
        SegmentationMetrics("pascal")
    with pytest.raises(ValueError, match="palette must be K x 3 RGB colours"):
        SegmentationMetrics([[0, 0], [255, 255]])
    with pytest.raises(ValueError, match="ignore_index must not be a class index in \\[0, 3\\), got 2"):
        SegmentationMetrics(PALETTE, ignore_index=2)
    with pytest.raises(ValueError, match="groups='XtoY'\\) must be a non-empty list"):
        SegmentationMetrics(groups="XtoY")
    with pytest.raises(ValueError, match="every_n_epochs=0\\) must be at least 1"):
        SegmentationMetrics(every_n_epochs=0)


def test_fit_scores_every_n_epochs_and_never_in_the_sanity_check():
    module = StoredMaps({"XtoY": EvalImages(fake=FAKE, target=TARGET)})
    callback = SegmentationMetrics(PALETTE, every_n_epochs=2)
    trainer(callback, max_epochs=4).fit(module, train_dataloaders=indices(), val_dataloaders=indices())
    logged = [(sanity, epoch, name, value) for sanity, epoch, name, value in module.logged if name.startswith("val/")]
    assert {epoch for sanity, epoch, _, _ in logged} == {1, 3} and not any(sanity for sanity, *_ in logged)
    assert {name: value for _, epoch, name, value in logged if epoch == 3} == pytest.approx({f"val/{n}": v for n, v in HAND_SCORES.items()})


def test_shapes_palette_is_the_demo_label_colours():
    maps = list_images(ensure_demo("shapes", "unpaired") / "trainA")[:50]
    colours = np.array(SHAPES_PALETTE.colours)
    used = set()
    for path in maps:
        pixels = np.rint(read_image(path) * 255).astype(int).reshape(-1, 3)
        matches = (pixels[:, None] == colours).all(-1)
        assert matches.any(1).all(), f"{path} has colours outside SHAPES_PALETTE"
        used |= set(np.flatnonzero(matches.any(0)))
    assert used == set(range(len(SHAPES_PALETTE)))
