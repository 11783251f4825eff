"""The paired datamodule's two-folder layout (root/A/<split>/, root/B/<split>/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_zoo.data import PairedDataModule

SMALL = dict(load_size=20, crop_size=16, batch_size=2, num_workers=0)


def noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def both_layouts(tmp_path: Path, write_rgb_file) -> tuple[Path, Path]:
    """The same pairs (RGB A, gray B, 16 px) side by side and in two folders."""
    side_by_side, folders, size, n = tmp_path / "side_by_side", tmp_path / "folders", 16, 3
    for split in ("train", "val"):
        for i in range(n):
            a = noise((size, size, 3), seed=i)
            b = noise((size, size), seed=10 + i)
            write_rgb_file(side_by_side / split / f"{i}.png", np.concatenate([a, np.repeat(b[..., None], 3, 2)], axis=1))
            write_rgb_file(folders / "A" / split / f"{i}.png", a)
            write_rgb_file(folders / "B" / split / f"{i}.png", b)
    return side_by_side, folders


def test_two_folders_give_the_tensors_of_the_same_pairs_side_by_side(both_layouts) -> None:
    side_by_side, folders = both_layouts
    datasets = []
    for root, layout in ((side_by_side, "side_by_side"), (folders, "folders")):
        dm = PairedDataModule(str(root), layout=layout, channels_B=1, test_split=None, **SMALL)
        dm.setup("fit")
        datasets.append((dm.train_dataset, dm.val_dataset))
    (train_sbs, val_sbs), (train_folders, val_folders) = datasets
    for index, seed in [(0, 1), (1, 2), (2, 3), (0, 4)]:  # random crops and flips, drawn alike
        expected, got = train_sbs[(index, seed)], train_folders[(index, seed)]
        assert got["A"].shape == (3, 16, 16) and got["B"].shape == (1, 16, 16)
        torch.testing.assert_close(got["A"], expected["A"])
        torch.testing.assert_close(got["B"], expected["B"])
        assert got["A_path"].endswith(f"A/train/{index}.png") and got["B_path"].endswith(f"B/train/{index}.png")
    torch.testing.assert_close(val_folders[1]["B"], val_sbs[1]["B"])


def test_a_name_on_one_side_only_is_named_with_both_folders(both_layouts) -> None:
    _, folders = both_layouts
    (folders / "B" / "train" / "1.png").rename(folders / "B" / "train" / "1b.png")
    dm = PairedDataModule(str(folders), layout="folders", val_split=None, test_split=None, **SMALL)
    with pytest.raises(ValueError, match=r"1 image\(s\) in A's folder have no namesake in the other \(1\.png\)") as error:
        dm.setup("fit")
    assert str(folders / "A" / "train") in str(error.value) and str(folders / "B" / "train") in str(error.value)


def test_a_missing_folder_names_it_and_the_layout(both_layouts) -> None:
    _, folders = both_layouts
    for image in (folders / "B" / "val").iterdir():
        image.unlink()
    (folders / "B" / "val").rmdir()
    dm = PairedDataModule(str(folders), layout="folders", test_split=None, **SMALL)
    with pytest.raises(FileNotFoundError, match=r"B/val does not exist: expected the validation split of .*data\.val_split: null"):
        dm.setup("fit")


def test_a_b_image_of_another_size_is_resized_to_its_a_image(both_layouts, write_rgb_file) -> None:
    _, folders = both_layouts
    write_rgb_file(folders / "B" / "val" / "0.png", noise((24, 40), seed=0))
    dm = PairedDataModule(str(folders), layout="folders", channels_B=1, test_split=None, preprocess="none", **{**SMALL, "batch_size": 1})
    dm.setup("fit")
    assert dm.val_dataset[0]["B"].shape == (1, 16, 16)


def test_an_unknown_layout_is_named() -> None:
    with pytest.raises(ValueError, match=r"data\.layout='two_folders' is unknown"):
        PairedDataModule("unused", layout="two_folders")
