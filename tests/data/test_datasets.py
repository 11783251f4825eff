from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.data import AlignedDataset, ImageFolderDataset, UnpairedDataset
from i2i_zoo.data.io import ImageReadError
from i2i_zoo.data.transforms import build_transform


def _identical_halves(folder: Path, write, size: int = 24) -> np.ndarray:
    """One AB file whose A and B halves are the same asymmetric noise pattern."""
    half = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    write(folder / "ab.png", np.concatenate([half, half], axis=1))
    return half


def test_paired_crops_and_flips_stay_aligned(tmp_path: Path, write_rgb_file) -> None:
    _identical_halves(tmp_path, write_rgb_file)
    transform = build_transform(load_size=30, crop_size=16, flip=True, train=True)
    dataset = AlignedDataset(tmp_path, transform=transform)
    crops = set()
    for seed in range(20):
        item = dataset[(0, seed)]
        assert item["A"].shape == (3, 16, 16)
        assert torch.equal(item["A"], item["B"])
        assert item["A"].min() >= -1 and item["A"].max() <= 1
        crops.add(item["A"].numpy().tobytes())
    assert len(crops) > 10  # different seeds give different crops


def test_the_key_seed_alone_decides_the_crop(tmp_path: Path, write_rgb_file) -> None:
    _identical_halves(tmp_path, write_rgb_file)
    dataset = AlignedDataset(tmp_path, transform=build_transform(30, 16, True, True))
    items = []
    for other_seed in (1, 2):
        random.seed(other_seed)  # python, numpy and torch RNGs must not matter
        np.random.seed(other_seed)
        torch.manual_seed(other_seed)
        state = torch.get_rng_state()
        items.append(dataset[(0, 7)]["A"])
        assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(*items)
    assert torch.equal(dataset[0]["A"], dataset[(0, 0)]["A"])  # a plain index is its own seed


def test_eval_transform_is_a_deterministic_resize(tmp_path: Path, write_rgb_file) -> None:
    half = _identical_halves(tmp_path, write_rgb_file)
    dataset = AlignedDataset(tmp_path, transform=build_transform(30, 16, True, train=False))
    torch.manual_seed(0)
    first = dataset[0]
    torch.manual_seed(1)
    second = dataset[0]
    assert torch.equal(first["A"], second["A"]) and torch.equal(first["B"], second["B"])
    expected = cv2.resize(half.astype(np.float32) / 255, (16, 16), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose((first["A"].permute(1, 2, 0).numpy() + 1) / 2, expected, atol=1e-5)


def test_transform_options_are_validated() -> None:
    with pytest.raises(ValueError, match="preprocess"):
        build_transform(30, 16, True, True, preprocess="scale_width")
    with pytest.raises(ValueError, match="crop_size=40.*load_size=30"):
        build_transform(30, 40, True, True)


def test_aligned_returns_halves_and_paths(tmp_path: Path, write_rgb_file) -> None:
    ab = np.zeros((6, 12, 3), np.uint8)
    ab[:, 6:] = 255
    write_rgb_file(tmp_path / "x.png", ab)
    item = AlignedDataset(tmp_path)[0]
    assert item["A"].shape == item["B"].shape == (3, 6, 6)
    assert (item["A"] == -1).all() and (item["B"] == 1).all()
    assert item["A_path"] == item["B_path"] == str(tmp_path / "x.png")


def test_aligned_halves_must_be_square_unless_allowed(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "wide.png", np.zeros((6, 10, 3), np.uint8))
    with pytest.raises(ImageReadError, match=r"wide\.png is 10x6 pixels: .* \(A left \| B right\), so its width must be twice its height \(12\)"):
        AlignedDataset(tmp_path)[0]
    assert AlignedDataset(tmp_path, square_halves=False)[0]["A"].shape == (3, 6, 5)


def test_aligned_odd_width_names_the_file(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "odd.png", np.zeros((6, 11, 3), np.uint8))
    with pytest.raises(ImageReadError, match=r"odd\.png.*even"):
        AlignedDataset(tmp_path)[0]


def test_aligned_channels_convert_only_without_loss(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "gray.png", np.full((6, 12), 51, np.uint8))
    item = AlignedDataset(tmp_path)[0]  # gray serves 3 channels by repetition
    assert item["A"].shape == item["B"].shape == (3, 6, 6)
    assert torch.allclose(item["A"], torch.full((3, 6, 6), 51 / 255 * 2 - 1))
    item = AlignedDataset(tmp_path, channels_A=1, channels_B=1)[0]
    assert item["A"].shape == item["B"].shape == (1, 6, 6)


def test_aligned_mixed_channels_take_a_gray_half_and_reject_a_colour_one(tmp_path: Path, write_rgb_file) -> None:
    ab = np.zeros((4, 8, 3), np.uint8)
    ab[:, :4] = (90, 90, 90)  # gray A half stored as RGB
    ab[:, 4:] = (0, 0, 255)
    write_rgb_file(tmp_path / "x.png", ab)
    item = AlignedDataset(tmp_path, channels_A=1, channels_B=3)[0]
    assert item["A"].shape == (1, 4, 4) and item["B"].shape == (3, 4, 4)
    assert item["A"][0, 0, 0].item() == pytest.approx(90 / 255 * 2 - 1, abs=1e-6)
    with pytest.raises(ImageReadError, match=r"x\.png has 3 colour channels, expected 1; set data\.channels_B to 3"):
        AlignedDataset(tmp_path, channels_A=3, channels_B=1)[0]


def test_aligned_rejects_unsupported_channels(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "x.png", np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="channels_B=4"):
        AlignedDataset(tmp_path, channels_B=4)


def test_unpaired_length_and_serial_pairing(make_unpaired) -> None:
    root = make_unpaired()
    dataset = UnpairedDataset(root / "trainA", root / "trainB", random_pairing=False)
    assert len(dataset) == 5
    items = [dataset[i] for i in range(5)]
    assert [Path(item["A_path"]).name for item in items] == [f"{i % 3:03d}.png" for i in range(5)]
    assert [Path(item["B_path"]).name for item in items] == [f"{i:03d}.png" for i in range(5)]


def test_unpaired_random_pairing_draws_from_the_key_seed(make_unpaired) -> None:
    root = make_unpaired()
    dataset = UnpairedDataset(root / "trainA", root / "trainB")

    def pairing(seed: int) -> list[str]:
        return [dataset[(i % 3, seed * 100 + i)]["B_path"] for i in range(12)]

    assert pairing(0) == pairing(0)
    assert pairing(0) != pairing(1)
    assert {Path(p).parent.name for p in pairing(0)} == {"trainB"}


def test_unpaired_transforms_are_independent(tmp_path: Path, write_rgb_file) -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    write_rgb_file(tmp_path / "A" / "x.png", image)
    write_rgb_file(tmp_path / "B" / "x.png", image)
    dataset = UnpairedDataset(
        tmp_path / "A", tmp_path / "B",
        transform_A=build_transform(24, 16, True, True, preprocess="crop"),
        transform_B=build_transform(24, 16, True, True, preprocess="crop"),
    )
    items = [dataset[(0, seed)] for seed in range(5)]
    assert any(not torch.equal(item["A"], item["B"]) for item in items)


def test_unpaired_channels(make_unpaired) -> None:
    root = make_unpaired(channels_B=1)
    item = UnpairedDataset(root / "testA", root / "testB", channels_B=1)[0]
    assert item["A"].shape == (3, 20, 20) and item["B"].shape == (1, 20, 20)
    # Colour A images where gray is expected: an error naming the file and the option.
    with pytest.raises(ImageReadError, match=r"testA.*expected 1; set data\.channels_A to 3"):
        UnpairedDataset(root / "testA", root / "testB", channels_A=1, channels_B=1)[0]


def test_image_folder_keeps_sizes(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "a.png", np.full((17, 23, 3), 255, np.uint8))
    write_rgb_file(tmp_path / "b.png", np.zeros((30, 12, 3), np.uint8))
    dataset = ImageFolderDataset(tmp_path)
    assert [tuple(dataset[i]["image"].shape) for i in range(2)] == [(3, 17, 23), (3, 30, 12)]
    assert dataset[0]["image"].max() == 1 and dataset[1]["image"].min() == -1
    assert dataset[1]["path"] == str(tmp_path / "b.png")


def test_image_smaller_than_crop_names_the_file(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "small.png", np.zeros((8, 16, 3), np.uint8))
    dataset = AlignedDataset(tmp_path, transform=build_transform(16, 16, False, True, "crop"))
    with pytest.raises(ValueError, match=r"small\.png"):
        dataset[0]


def test_crop_mode_evaluates_on_the_centre_crop_at_native_scale() -> None:
    image = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1) / 64
    out = build_transform(load_size=8, crop_size=4, flip=True, train=False, preprocess="crop")(image=image)["image"]
    np.testing.assert_array_equal(out, image[2:6, 2:6])


def test_image_folder_converts_channels_as_training_and_reports_bad_files(tmp_path: Path, write_rgb_file) -> None:
    """predict converts to the model's channels losslessly, as training does; a file it cannot
    read or convert becomes an item with the reason, not an error that ends the run."""
    gray = write_rgb_file(tmp_path / "a_gray.png", np.arange(12, dtype=np.uint8).reshape(3, 4))
    write_rgb_file(tmp_path / "b_equal.png", np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2))
    write_rgb_file(tmp_path / "c_colour.png", np.random.default_rng(0).integers(0, 256, (3, 4, 3), dtype=np.uint8))
    (tmp_path / "d_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")

    rgb = ImageFolderDataset(tmp_path, channels=3)
    item = rgb[0]
    assert item["image"].shape == (3, 3, 4) and torch.equal(item["image"][0], item["image"][2])
    assert item["path"] == str(gray) and "error" not in item
    assert rgb[2]["image"].shape == (3, 3, 4)
    corrupt = tmp_path / "d_corrupt.png"
    assert rgb[3] == {"path": str(corrupt), "error": f"cannot read image {corrupt}: not a valid or complete image file"}

    single = ImageFolderDataset(tmp_path, channels=1)
    assert single[0]["image"].shape == single[1]["image"].shape == (1, 3, 4)
    assert torch.equal(single[0]["image"], single[1]["image"])
    assert set(single[2]) == {"path", "error"} and "c_colour.png has 3 colour channels, expected 1" in single[2]["error"]
    assert ImageFolderDataset(tmp_path)[0]["image"].shape == (1, 3, 4)  # no model asked: as read
