"""data.augmentations: a user's albumentations pipeline after the standard preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.data import PairedDataModule, UnpairedDataModule

NO_PREPROCESSING = dict(preprocess="none", flip=False, batch_size=1, num_workers=0, val_split=None, test_split=None)
# A flip and a brightening by exactly 1.2, so the expected output is known.
FLIP_AND_BRIGHTEN = A.to_dict(A.Compose([
    A.HorizontalFlip(p=1.0),
    A.ColorJitter(brightness=(1.2, 1.2), contrast=(1.0, 1.0), saturation=(1.0, 1.0), hue=(0.0, 0.0), p=1.0),
]))
RANDOM = A.to_dict(A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=1.0), A.Rotate(limit=30, p=1.0)]))
# FLIP_AND_BRIGHTEN as a user writes it in a file.
FLIP_AND_BRIGHTEN_YAML = """
transform:
  __class_fullname__: Compose
  transforms:
    - {__class_fullname__: HorizontalFlip, p: 1.0}
    - __class_fullname__: ColorJitter
      p: 1.0
      brightness: [1.2, 1.2]
      contrast: [1.0, 1.0]
      saturation: [1.0, 1.0]
      hue: [0.0, 0.0]
"""


def _flipped_and_brightened(image: torch.Tensor) -> torch.Tensor:
    """FLIP_AND_BRIGHTEN of an item's image (in [-1, 1]): brightness scales the [0, 1] values."""
    return ((image.flip(-1) + 1) / 2 * 1.2).clamp(0, 1) * 2 - 1


@pytest.fixture
def identical_halves(make_paired) -> Path:
    """A paired root whose images hold the same picture in both halves."""
    root = make_paired(splits=("train",), n=2, size=16)
    for path in (root / "train").iterdir():
        image = cv2.imread(str(path))
        cv2.imwrite(str(path), np.concatenate([image[:, :16], image[:, :16]], axis=1))
    return root


def test_a_yaml_pipeline_flips_and_brightens_both_sides_alike(identical_halves, tmp_path) -> None:
    pipeline = tmp_path / "augmentations.yaml"
    pipeline.write_text(FLIP_AND_BRIGHTEN_YAML)
    plain = PairedDataModule(str(identical_halves), **NO_PREPROCESSING)
    augmented = PairedDataModule(str(identical_halves), augmentations=str(pipeline), **NO_PREPROCESSING)
    for dm in (plain, augmented):
        dm.setup("fit")
    before, after = plain.train_dataset[(0, 5)], augmented.train_dataset[(0, 5)]
    torch.testing.assert_close(after["A"], after["B"])
    torch.testing.assert_close(after["A"], _flipped_and_brightened(before["A"]), atol=1e-5, rtol=0)


def test_random_augmentations_draw_alike_for_a_and_b_from_the_items_seed(identical_halves) -> None:
    dm = PairedDataModule(str(identical_halves), augmentations=RANDOM, **NO_PREPROCESSING)
    dm.setup("fit")
    outputs = [dm.train_dataset[(1, seed)] for seed in range(4)]
    for seed, item in enumerate(outputs):
        torch.testing.assert_close(item["A"], item["B"])
        torch.testing.assert_close(dm.train_dataset[(1, seed)]["A"], item["A"])  # a resume redraws it exactly
    assert not torch.equal(outputs[0]["A"], outputs[1]["A"])


def test_evaluation_items_are_not_augmented(identical_halves) -> None:
    options = {**NO_PREPROCESSING, "val_split": "train"}
    plain = PairedDataModule(str(identical_halves), **options)
    augmented = PairedDataModule(str(identical_halves), augmentations=FLIP_AND_BRIGHTEN, **options)
    for dm in (plain, augmented):
        dm.setup("fit")
    torch.testing.assert_close(augmented.val_dataset[0]["A"], plain.val_dataset[0]["A"])


def test_the_unpaired_datamodule_takes_them_too(make_unpaired) -> None:
    root = str(make_unpaired(size=16))
    options = {**NO_PREPROCESSING, "random_pairing": False}
    plain, augmented = UnpairedDataModule(root, **options), UnpairedDataModule(root, augmentations=FLIP_AND_BRIGHTEN, **options)
    for dm in (plain, augmented):
        dm.setup("fit")
    before, after = plain.train_dataset[(0, 3)], augmented.train_dataset[(0, 3)]
    for side in "AB":
        torch.testing.assert_close(after[side], _flipped_and_brightened(before[side]), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "augmentations, error",
    [
        ({"transform": {"__class_fullname__": "NoSuchTransform", "p": 1.0}}, "not a valid albumentations pipeline"),
        ({"__class_fullname__": "HorizontalFlip", "p": 1.0}, "expected the dict of A.to_dict"),
        ("flips.txt", "is not a .yaml/.yml/.json file"),
    ],
)
def test_an_invalid_pipeline_names_the_option(augmentations, error) -> None:
    with pytest.raises((ValueError, FileNotFoundError), match=r"data\.augmentations.*" + error.replace(".", r"\.")):
        PairedDataModule("unused", augmentations=augmentations)


def test_a_json_file_gives_the_pipeline_of_its_dict(identical_halves, tmp_path) -> None:
    pipeline = tmp_path / "augmentations.json"
    pipeline.write_text(json.dumps(FLIP_AND_BRIGHTEN))
    from_file = PairedDataModule(str(identical_halves), augmentations=str(pipeline), **NO_PREPROCESSING)
    from_dict = PairedDataModule(str(identical_halves), augmentations=FLIP_AND_BRIGHTEN, **NO_PREPROCESSING)
    for dm in (from_file, from_dict):
        dm.setup("fit")
    torch.testing.assert_close(from_file.train_dataset[(1, 2)]["B"], from_dict.train_dataset[(1, 2)]["B"])
