"""Dataset preparation (i2i_zoo.data.prepare): Cityscapes in the unpaired layout with its hidden
true pairs, read back by UnpairedDataModule."""

import csv

import cv2
import numpy as np
import pytest

from i2i_zoo.data import UnpairedDataModule
from i2i_zoo.data.prepare import main, prepare_cityscapes, prepare_helen

ROAD, SKY = (128, 64, 128), (70, 130, 180)  # Cityscapes palette colours (RGB)


def _cityscapes(root, frames={"train": {"aachen": 2, "bremen": 1}, "val": {"lindau": 1}}):
    rng = np.random.default_rng(0)
    for split, cities in frames.items():
        for city, n in cities.items():
            for i in range(n):
                name = f"{city}_000000_{i:06d}"
                photo = root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png"
                label = root / "gtFine" / split / city / f"{name}_gtFine_color.png"
                photo.parent.mkdir(parents=True, exist_ok=True)
                label.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(photo), rng.integers(0, 256, (16, 32, 3), dtype=np.uint8))
                colours = np.zeros((16, 32, 3), np.uint8)
                colours[:8], colours[8:] = SKY[::-1], ROAD[::-1]  # BGR on disk
                cv2.imwrite(str(label), colours)


def test_cityscapes_becomes_the_unpaired_layout_with_its_true_pairs(tmp_path):
    _cityscapes(tmp_path / "cityscapes")
    counts = prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "out", size=8)
    assert counts == {"train": 3, "test": 1}
    assert sorted(p.name for p in (tmp_path / "out" / "trainA").iterdir()) == [
        "aachen_000000_000000.png", "aachen_000000_000001.png", "bremen_000000_000000.png"]  # fmt: skip
    label = cv2.imread(str(tmp_path / "out" / "testB" / "lindau_000000_000000.png"))[..., ::-1]
    assert label.shape == (8, 16, 3)  # height 8, the aspect kept
    assert {tuple(c) for c in label.reshape(-1, 3)} == {ROAD, SKY}  # nearest: only palette colours
    with open(tmp_path / "out" / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"split": "test", "A": "testA/lindau_000000_000000.png", "B": "testB/lindau_000000_000000.png"} in rows

    dm = UnpairedDataModule(str(tmp_path / "out"), pairs_file="pairs.csv", load_size=8, crop_size=8, batch_size=1, num_workers=0)
    dm.setup("validate")
    batch = next(iter(dm.val_dataloader()))
    assert batch["B_true"].shape == (1, 3, 8, 8)


def test_square_resizes_to_size_by_size_with_label_maps_kept_exact(tmp_path):
    _cityscapes(tmp_path / "cityscapes")
    prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "out", size=8, square=True)
    label = cv2.imread(str(tmp_path / "out" / "testB" / "lindau_000000_000000.png"))[..., ::-1]
    assert label.shape == (8, 8, 3)
    assert {tuple(c) for c in label.reshape(-1, 3)} == {ROAD, SKY}
    assert cv2.imread(str(tmp_path / "out" / "testA" / "lindau_000000_000000.png")).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="--square needs --size"):
        prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "other", square=True)


def test_cityscapes_errors_name_what_is_missing(tmp_path):
    _cityscapes(tmp_path / "cityscapes")
    (tmp_path / "cityscapes" / "gtFine" / "val" / "lindau" / "lindau_000000_000000_gtFine_color.png").unlink()
    with pytest.raises(FileNotFoundError, match="lindau_000000_000000_leftImg8bit.png has no colour label map"):
        prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "out")
    with pytest.raises(ValueError, match="lies inside --input"):
        prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "cityscapes" / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ValueError, match="--output .*full is not empty"):
        prepare_cityscapes(tmp_path / "cityscapes", tmp_path / "full")
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        prepare_cityscapes(tmp_path / "nothing", tmp_path / "out2")


def test_the_command_line(tmp_path, capsys):
    _cityscapes(tmp_path / "cityscapes", {"train": {"aachen": 1}, "val": {"lindau": 1}})
    main(["cityscapes", "--input", str(tmp_path / "cityscapes"), "--output", str(tmp_path / "out")])
    assert "1 train pairs, 1 test pairs written to" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / "out" / "trainA" / "aachen_000000_000000.png")).shape == (16, 32, 3)


def _helen(root, train=("100032540_1", "100040721_1"), test=("10405146_1",)):
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    for listing, names in (("exemplars.txt", train), ("testing.txt", test)):
        (root / listing).write_text("".join(f"{i + 1} , {name}\n" for i, name in enumerate(names)))
        for name in names:
            cv2.imwrite(str(root / "images" / f"{name}.jpg"), rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
            (root / "labels" / name).mkdir(parents=True)
            for k in range(11):
                mask = np.zeros((6, 8), np.uint8)
                if k == 1:  # face skin strongest on the left half, hair on the right
                    mask[:, :4] = 200
                if k == 10:
                    mask[:, 4:] = 150
                cv2.imwrite(str(root / "labels" / name / f"{name}_lbl{k:02d}.png"), mask)


def test_helen_masks_become_colour_label_maps(tmp_path):
    from i2i_zoo.data.prepare import HELEN_PALETTE

    _helen(tmp_path / "helen")
    assert prepare_helen(tmp_path / "helen", tmp_path / "out") == {"train": 2, "test": 1}
    label = cv2.imread(str(tmp_path / "out" / "testB" / "10405146_1.png"))[..., ::-1]
    assert (label[:, :4] == HELEN_PALETTE["face skin"]).all() and (label[:, 4:] == HELEN_PALETTE["hair"]).all()
    with open(tmp_path / "out" / "pairs.csv", newline="") as f:
        assert {"split": "train", "A": "trainA/100032540_1.png", "B": "trainB/100032540_1.png"} in list(csv.DictReader(f))


def test_helen_errors_name_what_is_missing(tmp_path):
    _helen(tmp_path / "helen")
    (tmp_path / "helen" / "labels" / "10405146_1" / "10405146_1_lbl03.png").unlink()
    with pytest.raises(FileNotFoundError, match="cannot read the part mask .*10405146_1_lbl03.png"):
        prepare_helen(tmp_path / "helen", tmp_path / "out")
    (tmp_path / "helen" / "testing.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing.txt does not exist"):
        prepare_helen(tmp_path / "helen", tmp_path / "out2")
