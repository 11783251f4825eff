from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.data import SuperResolutionDataModule, SuperResolutionDataset
from i2i_zoo.data.degradations import bicubic, modcrop
from i2i_zoo.data.io import ImageReadError

SMALL = dict(patch_size=16, batch_size=2, num_workers=0)


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _write(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 RGB (or gray) pixels losslessly in the format of the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels[:, :, ::-1] if pixels.ndim == 3 else pixels)


def _blocks(lr: np.ndarray, scale: int = 4) -> np.ndarray:
    """An HR image of scale x scale blocks, whose exact block average is ``lr``."""
    return lr.repeat(scale, 0).repeat(scale, 1)


def _write_div2k(root: Path, split: str, lr_images: dict[str, np.ndarray]) -> None:
    """Write each LR image under its name in ``DIV2K_<split>_LR_bicubic/X4/`` and its block HR
    image as ``<stem>.png`` in ``DIV2K_<split>_HR/``."""
    for name, lr in lr_images.items():
        stem = name.split(".")[0].removesuffix("x4")
        _write(root / f"DIV2K_{split}_HR" / f"{stem}.png", _blocks(lr))
        _write(root / f"DIV2K_{split}_LR_bicubic" / "X4" / name, lr)


@pytest.fixture
def div2k(tmp_path: Path) -> Path:
    root = tmp_path / "div2k"
    _write_div2k(root, "train", {"0001x4.png": _pixels((8, 10, 3), 1), "0002.bmp": _pixels((6, 7, 3), 2)})
    _write_div2k(root, "valid", {"0801x4.png": _pixels((8, 10, 3), 3), "0802x4.png": _pixels((8, 10, 3), 4)})
    return root


def _upsampled(lr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    return lr.repeat_interleave(scale, -1).repeat_interleave(scale, -2)


def test_batches_hold_aligned_lr_and_hr(div2k: Path) -> None:
    dm = SuperResolutionDataModule(str(div2k), **SMALL)
    assert dm.hparams.scale == 4 and dm.hparams.channels == 3  # linked to the model by the CLI
    dm.setup("fit")
    for batch in dm.train_dataloader():
        assert set(batch) == {"lr", "hr", "lr_path", "hr_path"}
        assert batch["lr"].shape == (2, 3, 4, 4) and batch["hr"].shape == (2, 3, 16, 16)
        assert batch["lr"].dtype == batch["hr"].dtype == torch.float32
        assert batch["lr"].min() >= -1 and batch["lr"].max() <= 1
        assert torch.equal(batch["hr"], _upsampled(batch["lr"]))  # the patches are aligned
    val = next(iter(dm.val_dataloader()))
    assert val["lr"].shape == (1, 3, 8, 10) and val["hr"].shape == (1, 3, 32, 40)  # whole images
    assert torch.equal(val["hr"], _upsampled(val["lr"]))
    assert [Path(p).name for p in val["lr_path"]] == ["0801x4.png"]
    dm.setup("test")  # the test split defaults to DIV2K's validation images
    assert [Path(p).name for p in dm.test_dataset.hr_paths] == ["0801.png", "0802.png"]


def test_lr_files_are_found_by_div2k_name_or_by_stem(div2k: Path) -> None:
    dataset = SuperResolutionDataset(div2k / "DIV2K_train_HR", div2k / "DIV2K_train_LR_bicubic/X4", scale=4)
    assert [p.name for p in dataset.lr_paths] == ["0001x4.png", "0002.bmp"]
    assert dataset[1]["lr"].shape == (3, 6, 7) and dataset[1]["hr"].shape == (3, 24, 28)


def _dihedral_variants(image: torch.Tensor) -> list[torch.Tensor]:
    rotations = [torch.rot90(image, k, (1, 2)) for k in range(4)]
    return rotations + [rotation.flip(2) for rotation in rotations]


@pytest.mark.parametrize("augment", [True, False])
def test_augmentation_flips_and_rotates_lr_and_hr_alike(tmp_path: Path, augment: bool) -> None:
    lr = _pixels((4, 4, 3))
    _write(tmp_path / "hr" / "x.png", _blocks(lr))
    _write(tmp_path / "lr" / "x.png", lr)
    variants = _dihedral_variants(SuperResolutionDataset(tmp_path / "hr", tmp_path / "lr", 4)[0]["lr"])
    dataset = SuperResolutionDataset(tmp_path / "hr", tmp_path / "lr", 4, train=True, patch_size=16, augment=augment)
    seen = set()
    for seed in range(40):
        item = dataset[(0, seed)]  # the patch is the whole image
        assert torch.equal(item["hr"], _upsampled(item["lr"]))
        seen.add(next(i for i, variant in enumerate(variants) if torch.equal(variant, item["lr"])))
    assert seen == (set(range(8)) if augment else {0})


def test_div2k_unknown_track_with_392_patches_and_no_augmentation(tmp_path: Path) -> None:
    # DIV2K's unknown-degradation x4 track names its files as the bicubic track does (0001x4.png).
    for split, stem in (("train", "0001"), ("valid", "0801")):
        lr = _pixels((100, 100, 3), int(stem))
        _write(tmp_path / f"DIV2K_{split}_HR" / f"{stem}.png", _blocks(lr))
        _write(tmp_path / f"DIV2K_{split}_LR_unknown" / "X4" / f"{stem}x4.png", lr)
    dm = SuperResolutionDataModule(
        str(tmp_path), train_lr="DIV2K_train_LR_unknown/X{scale}", val_lr="DIV2K_valid_LR_unknown/X{scale}",
        patch_size=392, augment=False, batch_size=1, num_workers=0,
    )
    dm.setup("fit")
    lr = torch.from_numpy(_pixels((100, 100, 3), 1)).permute(2, 0, 1) / 255 * 2 - 1
    offsets = set()
    for seed in range(6):
        item = dm.train_dataset[(0, seed)]
        assert Path(item["lr_path"]).relative_to(tmp_path) == Path("DIV2K_train_LR_unknown/X4/0001x4.png")
        assert item["lr"].shape == (3, 98, 98) and item["hr"].shape == (3, 392, 392)
        assert torch.equal(item["hr"], _upsampled(item["lr"]))
        # Not flipped or rotated: an upright crop of the LR image at one of the 3 x 3 offsets.
        offsets.add(next((top, left) for top in range(3) for left in range(3)
                         if torch.allclose(lr[:, top : top + 98, left : left + 98], item["lr"], atol=1e-6)))
    assert len(offsets) > 1
    assert Path(dm.val_dataset[0]["lr_path"]).name == "0801x4.png" and dm.val_dataset[0]["hr"].shape == (3, 400, 400)


def _hr_position(hr: np.ndarray, patch: np.ndarray, scale: int) -> tuple[int, int]:
    size = patch.shape[0]
    for top in range(0, hr.shape[0] - size + 1, scale):
        for left in range(0, hr.shape[1] - size + 1, scale):
            if np.allclose(hr[top : top + size, left : left + size], patch, atol=1e-6):
                return top, left
    raise AssertionError("the HR patch is not a scale-aligned crop of the HR image")


def test_lr_made_from_hr_is_the_bicubic_downscale_at_the_patch_position(tmp_path: Path) -> None:
    pixels = _pixels((38, 45, 3))  # cropped to 36x44, multiples of the scale
    _write(tmp_path / "DIV2K_train_HR" / "0001.png", pixels)
    _write(tmp_path / "DIV2K_valid_HR" / "0801.png", pixels)
    hr = modcrop(pixels.astype(np.float32) / 255, 4)
    expected = bicubic(hr, 4)
    dm = SuperResolutionDataModule(str(tmp_path), train_lr=None, val_lr=None, augment=False, **SMALL)
    dm.setup("fit")
    positions = set()
    for seed in range(5):
        item = dm.train_dataset[(0, seed)]
        assert item["lr_path"] == item["hr_path"]
        hr_patch, lr_patch = ((item[key].permute(1, 2, 0).numpy() + 1) / 2 for key in ("hr", "lr"))
        top, left = _hr_position(hr, hr_patch, 4)
        positions.add((top, left))
        np.testing.assert_allclose(lr_patch, expected[top // 4 : top // 4 + 4, left // 4 : left // 4 + 4], atol=1e-6)
    assert len(positions) > 1
    val = dm.val_dataset[0]
    assert val["hr"].shape == (3, 36, 44)
    np.testing.assert_allclose((val["lr"].permute(1, 2, 0).numpy() + 1) / 2, expected, atol=1e-6)


def test_random_degradations_are_fixed_per_image_in_evaluation_and_drawn_in_training(tmp_path: Path) -> None:
    pixels = np.full((16, 16, 3), 128, np.uint8)
    for split in ("train", "valid"):
        for stem in ("0001", "0002"):
            _write(tmp_path / f"DIV2K_{split}_HR" / f"{stem}.png", pixels)
    dm = SuperResolutionDataModule(str(tmp_path), train_lr=None, val_lr=None, degradation="noise", augment=False, **SMALL)
    dm.setup("fit")
    first_pass = [dm.val_dataset[i]["lr"] for i in range(2)]
    assert all(torch.equal(a, dm.val_dataset[i]["lr"]) for i, a in enumerate(first_pass))
    assert not torch.equal(*first_pass)  # noise differs between images
    training = [dm.train_dataset[(0, seed)]["lr"] for seed in range(2)]  # a 16-pixel patch is the whole image
    assert not torch.equal(*training)


def test_gray_images(tmp_path: Path) -> None:
    lr = _pixels((8, 8))
    _write(tmp_path / "DIV2K_train_HR" / "0001.png", _blocks(lr))
    _write(tmp_path / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png", lr)
    dm = SuperResolutionDataModule(str(tmp_path), channels=1, val_hr=None, **SMALL)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (1, 1, 4, 4) and batch["hr"].shape == (1, 1, 16, 16)


def _first_batch(root: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    dm = SuperResolutionDataModule(str(root), **SMALL)
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


def test_the_torch_seed_decides_the_training_stream(div2k: Path) -> None:
    first, again, other = (_first_batch(div2k, seed) for seed in (0, 0, 1))
    assert torch.equal(first["lr"], again["lr"]) and torch.equal(first["hr"], again["hr"])
    assert not torch.equal(first["lr"], other["lr"])


def test_a_checkpointed_stream_resumes_exactly(div2k: Path) -> None:
    torch.manual_seed(0)
    dm = SuperResolutionDataModule(str(div2k), **SMALL)
    dm.setup("fit")
    next(iter(dm.train_dataloader()))
    state = dm.state_dict()
    expected = next(iter(dm.train_dataloader()))
    torch.manual_seed(123)
    resumed = SuperResolutionDataModule(str(div2k), **SMALL)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    batch = next(iter(resumed.train_dataloader()))
    assert torch.equal(batch["lr"], expected["lr"]) and batch["hr_path"] == expected["hr_path"]


def test_predict_reads_a_plain_folder(tmp_path: Path) -> None:
    _write(tmp_path / "in" / "a.png", _pixels((5, 7, 3)))
    dm = SuperResolutionDataModule(predict_dir=str(tmp_path / "in"), num_workers=0)
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"image", "path"} and batch["image"].shape == (1, 3, 5, 7)


def test_no_validation_with_null_val_hr_and_a_hint_when_its_folder_is_missing(div2k: Path) -> None:
    dm = SuperResolutionDataModule(str(div2k), val_hr=None, **SMALL)
    dm.setup("fit")
    assert dm.val_dataloader() == []
    with pytest.raises(FileNotFoundError, match=r"DIV2K_val\b.*data\.val_hr: null"):
        SuperResolutionDataModule(str(div2k), val_hr="DIV2K_val", **SMALL).setup("fit")
    dm = SuperResolutionDataModule(str(div2k), test_hr=None, **SMALL)
    dm.setup("test")
    with pytest.raises(ValueError, match=r"data\.test_hr"):
        dm.test_dataloader()


def test_missing_hr_folder_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"DIV2K_train_HR does not exist.*data\.train_hr"):
        SuperResolutionDataModule(str(tmp_path), **SMALL).setup("fit")


def test_missing_lr_folder_says_how_to_make_lr_from_hr(div2k: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"X3 does not exist.*data\.train_lr: null"):
        SuperResolutionDataModule(str(div2k), scale=3, **{**SMALL, "patch_size": 12}).setup("fit")


def test_missing_lr_partner_names_the_hr_file_the_folder_and_the_names_tried(div2k: Path) -> None:
    _write(div2k / "DIV2K_train_HR" / "0003.png", _pixels((32, 32, 3)))
    pattern = r"0003\.png in .*X4: looked for 0003x4\.<image extension> or 0003\.<image extension>"
    with pytest.raises(FileNotFoundError, match=pattern):
        SuperResolutionDataModule(str(div2k), **SMALL).setup("fit")


def test_lr_of_the_wrong_size_names_both_files_and_sizes(div2k: Path) -> None:
    _write(div2k / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png", _pixels((8, 9, 3)))
    dataset = SuperResolutionDataset(div2k / "DIV2K_train_HR", div2k / "DIV2K_train_LR_bicubic/X4", scale=4)
    with pytest.raises(ImageReadError, match=r"0001x4\.png is 9x8 pixels, expected 10x8: its HR image .*0001\.png is 40x32"):
        dataset[0]


def test_image_smaller_than_the_patch_names_the_file(div2k: Path) -> None:
    dm = SuperResolutionDataModule(str(div2k), **{**SMALL, "patch_size": 36})
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"0001\.png \(40x32 pixels\) is smaller .*data\.patch_size=36"):
        dm.train_dataset[0]


def test_corrupt_image_names_the_file(div2k: Path) -> None:
    (div2k / "DIV2K_train_HR" / "0001.png").write_bytes(b"not a png")
    dm = SuperResolutionDataModule(str(div2k), **SMALL)
    dm.setup("fit")
    with pytest.raises(ImageReadError, match=r"DIV2K_train_HR.0001\.png"):
        dm.train_dataset[0]


@pytest.mark.parametrize(("options", "message"), [
    (dict(patch_size=18), r"data\.patch_size=18 must be a positive multiple of data\.scale=4"),
    (dict(degradation="jpeg"), r"data\.degradation='jpeg' is unknown"),
    (dict(train_lr="X{factor}"), r"data\.train_lr='X\{factor\}': only \{scale\}"),
    (dict(scale=0), r"data\.scale=0"),
])
def test_bad_options_fail_at_instantiation(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SuperResolutionDataModule("unused", **options)


def test_whole_evaluation_images_of_several_sizes_in_one_batch_name_the_batch_option(tmp_path: Path) -> None:
    _write(tmp_path / "DIV2K_valid_HR" / "a.png", _pixels((8, 8, 3)))
    _write(tmp_path / "DIV2K_valid_HR" / "b.png", _pixels((12, 8, 3)))
    dm = SuperResolutionDataModule(str(tmp_path), val_lr=None, eval_batch_size=2, **SMALL)
    dm.setup("validate")
    with pytest.raises(ValueError, match=r"the lr images of a batch differ in size \(.*a\.png: 3x2x2, .*b\.png: 3x3x2\): set data\.eval_batch_size: 1$"):
        next(iter(dm.val_dataloader()))
