from __future__ import annotations

import csv
import os
import pickle
import pickletools
import random
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.data.multi_domain_readers import CELEBA_TEST_SIZE, celeba_split, load_array_pickle
from i2i_zoo.data.demo import TINTS
from i2i_zoo.data.io import ImageReadError, read_image, to_tensor

SMALL = dict(image_size=8, batch_size=4, num_workers=0)
ATTRIBUTES = ["Bald", "Black_Hair", "Blond_Hair", "Male", "Young"]
AUS = [f"AU{n:02d}_r" for n in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)]


def _pixels(seed: int, height: int = 10, width: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _check_batch(
    batch: dict, n: int, label_shape: tuple[int, ...], label_dtype: torch.dtype, train: bool = False
) -> None:
    """Training batches also hold ``target_label``, typed and shaped as ``label``."""
    assert set(batch) == {"image", "label", "path"} | ({"target_label"} if train else set())
    assert batch["image"].shape == (n, 3, 8, 8) and batch["image"].dtype == torch.float32
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    for key in ("label", "target_label") if train else ("label",):
        assert batch[key].shape == (n, *label_shape) and batch[key].dtype == label_dtype
    assert len(batch["path"]) == n and isinstance(batch["path"][0], str)


def _labels_by_path(dataset) -> dict[str, np.ndarray]:
    return {str(path): np.asarray(label) for path, label in zip(dataset.paths, dataset.labels)}


# folders: root/<split>/<domain>/


@pytest.fixture
def folders(tmp_path: Path, write_rgb_file) -> Path:
    """train: 3 images in each of a, b, c and ignored/; test: 2 in each of a, b, c."""
    root = tmp_path / "folders"
    for split, n in (("train", 3), ("test", 2)):
        for d, domain in enumerate(("a", "b", "c", "ignored") if split == "train" else ("a", "b", "c")):
            for i in range(n):
                write_rgb_file(root / split / domain / f"{i}.png", _pixels(100 * d + i))
    return root


def test_folders_batches_label_each_image_with_its_folders_index(folders, tmp_path, write_rgb_file):
    write_rgb_file(tmp_path / "predict" / "x.png", _pixels(0, 13, 21))
    dm = MultiDomainDataModule(str(folders), domains=["c", "a"], predict_dir=str(tmp_path / "predict"), **SMALL)
    assert dm.label_type == "exclusive"
    dm.setup("fit")
    for dataset, n in ((dm.train_dataset, 6), (dm.val_dataset, 4)):
        labels = _labels_by_path(dataset)
        assert len(labels) == n  # b and ignored/ are not read
        assert all(labels[p] == ["c", "a"].index(Path(p).parent.name) for p in labels)
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 4, (), torch.int64, train=True)
    for path, label in zip(batch["path"], batch["label"]):
        assert label == ["c", "a"].index(Path(path).parent.name)
    _check_batch(next(iter(dm.val_dataloader())), 4, (), torch.int64)
    dm.setup("test")
    _check_batch(next(iter(dm.test_dataloader())), 4, (), torch.int64)
    predicted = next(iter(dm.predict_dataloader()))
    assert set(predicted) == {"image", "path"} and predicted["image"].shape == (1, 3, 13, 21)


def test_square_crop_keeps_the_aspect_and_cuts_the_long_side(tmp_path, write_rgb_file):
    """A 16 x 32 image: black in its central 16 x 16 square, white bands left and right. Squashed to
    8 x 8 the bands stay; with square_crop (short side to 8, centre crop) they are cut away."""
    image = np.full((16, 32, 3), 255, np.uint8)
    image[:, 8:24] = 0
    for split in ("train", "test"):
        write_rgb_file(tmp_path / "data" / split / "a" / "0.png", image)
    for square_crop, white in ((False, True), (True, False)):
        dm = MultiDomainDataModule(str(tmp_path / "data"), domains=["a"], square_crop=square_crop, **SMALL)
        dm.setup("validate")
        pixels = dm.val_dataset[0]["image"]
        assert pixels.shape == (3, 8, 8)
        assert (pixels.max() == 1) == white


def test_missing_domain_folder_is_named_with_the_folders_there(folders):
    dm = MultiDomainDataModule(str(folders), domains=["a", "d"], **SMALL)
    with pytest.raises(FileNotFoundError, match=r"train/d does not exist.*'d'.*\['a', 'b', 'c', 'ignored'\]"):
        dm.setup("fit")


def test_missing_split_folder_names_the_split_options(folders):
    dm = MultiDomainDataModule(str(folders), domains=["a"], val_split="val", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"folders/val does not exist.*data\.val_split"):
        dm.setup("fit")


def test_corrupt_image_error_names_its_path(folders):
    (folders / "train" / "a" / "1.png").write_bytes(b"not a png")
    dm = MultiDomainDataModule(str(folders), domains=["a"], **SMALL)
    dm.setup("fit")
    with pytest.raises(ImageReadError, match=r"train/a/1\.png"):
        list(dm.train_dataloader())


def test_aligned_evaluation_adds_each_scene_in_every_domain(folders):
    dm = MultiDomainDataModule(str(folders), domains=["c", "a"], aligned_evaluation=True, **SMALL)
    dm.setup("fit")
    assert "image_true" not in dm.train_dataset[0]
    reference = MultiDomainDataModule(str(folders), domains=["c", "a"], **SMALL)
    reference.setup("fit")
    by_path = {item["path"]: item["image"] for item in reference.val_dataset}
    batch = next(iter(dm.val_dataloader()))
    assert batch["image_true"].shape == (4, 2, 3, 8, 8)
    for path, label, image, truths in zip(batch["path"], batch["label"], batch["image"], batch["image_true"]):
        assert torch.equal(truths[label], image)
        for k, domain in enumerate(["c", "a"]):
            assert torch.equal(truths[k], by_path[str(folders / "test" / domain / Path(path).name)])


def test_aligned_evaluation_names_a_scene_missing_from_a_domain(folders):
    (folders / "test" / "b" / "1.png").unlink()
    dm = MultiDomainDataModule(str(folders), domains=["a", "b"], aligned_evaluation=True, **SMALL)
    with pytest.raises(FileNotFoundError, match=r"test/b/1\.png does not exist: with data\.aligned_evaluation"):
        dm.setup("fit")


# celeba: root/images/ + root/list_attr_celeba.txt


def _write_celeba(root: Path, n: int, write, size: tuple[int, int] = (10, 8)) -> dict[str, list[int]]:
    """``n`` images (height, width = ``size``) and their attribute file, with 40 attributes of
    which ATTRIBUTES are some; returns each file's 1/-1 values."""
    names = [f"Attr_{i}" for i in range(35)]
    names[3:3], names[20:20] = ATTRIBUTES[:2], ATTRIBUTES[2:]  # spread among the others
    rng = np.random.default_rng(0)
    values = {f"{i + 1:06d}.jpg": rng.choice([-1, 1], len(names)).tolist() for i in range(n)}
    lines = [str(n), " ".join(names) + " "]  # CelebA's header line ends with a space
    lines += [f"{name} " + " ".join(f"{v:2d}" for v in row) for name, row in values.items()]
    root.mkdir(parents=True)
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    for i, name in enumerate(values):
        write(root / "images" / name, _pixels(i, *size))
    return {name: [row[names.index(a)] for a in ATTRIBUTES] for name, row in values.items()}


def test_celeba_split_is_the_original_stargans():
    """The original shuffles the attribute lines after random.seed(1234) and tests on those at
    positions i with i + 1 < 2000."""
    lines = [f"{i:06d}.jpg" for i in range(2500)]
    state = random.getstate()
    try:
        random.seed(1234)
        random.shuffle(lines)
    finally:
        random.setstate(state)
    expected_test = [line for i, line in enumerate(lines) if (i + 1) < 2000]
    split = celeba_split(2500)
    assert [f"{i:06d}.jpg" for i in split["test"]] == expected_test
    assert sorted(split["test"] + split["train"]) == list(range(2500))
    assert CELEBA_TEST_SIZE == len(expected_test) == 1999


def test_celeba_batches_hold_the_chosen_attributes_as_0_1(tmp_path, write_rgb_file):
    values = _write_celeba(tmp_path / "celeba", CELEBA_TEST_SIZE + 5, write_rgb_file)
    domains = ["Young", "Black_Hair", "Male"]
    dm = MultiDomainDataModule(str(tmp_path / "celeba"), layout="celeba", domains=domains, center_crop=8, **SMALL)
    assert dm.label_type == "attributes"
    dm.setup("fit")
    assert len(dm.train_dataset) == 5 and len(dm.val_dataset) == CELEBA_TEST_SIZE
    test_names = {f"{i + 1:06d}.jpg" for i in celeba_split(CELEBA_TEST_SIZE + 5)["test"]}
    assert {p.name for p in dm.val_dataset.paths} == test_names
    for path, label in _labels_by_path(dm.train_dataset).items():
        expected = [values[Path(path).name][ATTRIBUTES.index(d)] == 1 for d in domains]
        np.testing.assert_array_equal(label, np.array(expected, np.float32))
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 4, (3,), torch.float32, train=True)
    assert set(batch["label"].unique().tolist()) <= {0.0, 1.0}
    for path, label in zip(batch["path"], batch["label"]):
        assert label.tolist() == [float(values[Path(path).name][ATTRIBUTES.index(d)] == 1) for d in domains]
    _check_batch(next(iter(dm.val_dataloader())), 4, (3,), torch.float32)


def test_celeba_crops_178_by_default(tmp_path, write_rgb_file):
    """A white frame outside the centre 178 px square of a 218x180 image is cut away."""
    root = tmp_path / "celeba"
    _write_celeba(root, 2, write_rgb_file)
    image = np.full((218, 180, 3), 255, np.uint8)
    image[20:198, 1:179] = 0
    for name in ("000001.jpg", "000002.jpg"):  # lossless despite the name: PNG bytes
        write_rgb_file(root / "images" / "x.png", image).replace(root / "images" / name)
    dm = MultiDomainDataModule(str(root), layout="celeba", domains=["Male"], **{**SMALL, "image_size": 178})
    dm.setup("test")
    assert dm.test_dataset[0]["image"].max() == -1
    options = {**SMALL, "image_size": 180}
    dm = MultiDomainDataModule(str(root), layout="celeba", domains=["Male"], center_crop=180, **options)
    dm.setup("test")
    assert dm.test_dataset[0]["image"].max() == 1


def test_celeba_random_test_split_of_n_images_follows_the_seed(tmp_path, write_rgb_file):
    _write_celeba(tmp_path / "celeba", 30, write_rgb_file)

    def split(stage: str = "fit", **options) -> tuple[list[str], list[str]]:
        dm = MultiDomainDataModule(str(tmp_path / "celeba"), layout="celeba", domains=["Male"], center_crop=8, **options, **SMALL)
        dm.setup(stage)
        if stage == "test":
            return [p.name for p in dm.test_dataset.paths]
        return [p.name for p in dm.val_dataset.paths], [p.name for p in dm.train_dataset.paths]

    test, train = split(celeba_test_images=7, split_seed=5)
    assert len(test) == 7 and len(train) == 23
    assert sorted(test + train) == [f"{i + 1:06d}.jpg" for i in range(30)]
    assert test == [f"{i + 1:06d}.jpg" for i in celeba_split(30, 7, 5)["test"]]
    assert split(celeba_test_images=7, split_seed=5) == (test, train)
    assert split(celeba_test_images=7, split_seed=6)[0] != test
    # The defaults stay the original StarGAN's: seed 1234, 1999 test images (all 30 here).
    assert split("test") == split("test", celeba_test_images=CELEBA_TEST_SIZE, split_seed=1234)
    assert split("test") == [f"{i + 1:06d}.jpg" for i in celeba_split(30)["test"]]


def test_celeba_no_center_crop_keeps_the_whole_image(tmp_path, write_rgb_file):
    root = tmp_path / "celeba"
    _write_celeba(root, 2, write_rgb_file)
    image = _pixels(7, 16, 16)
    write_rgb_file(root / "images" / "x.png", image).replace(root / "images" / "000001.jpg")
    dm = MultiDomainDataModule(str(root), layout="celeba", domains=["Male"], center_crop=0, **{**SMALL, "image_size": 16})
    dm.setup("test")
    item = next(item for item in dm.test_dataset if item["path"].endswith("000001.jpg"))
    torch.testing.assert_close(item["image"], to_tensor(image / 255.0))


def test_celeba_unknown_attribute_lists_the_valid_ones(tmp_path, write_rgb_file):
    _write_celeba(tmp_path / "celeba", 3, write_rgb_file)
    dm = MultiDomainDataModule(str(tmp_path / "celeba"), layout="celeba", domains=["Male", "Blue_Hair"], **SMALL)
    with pytest.raises(ValueError, match=r"\['Blue_Hair'\] are not attributes.*'Black_Hair'.*'Young'"):
        dm.setup("test")


def test_celeba_missing_images_are_counted_and_named(tmp_path, write_rgb_file):
    _write_celeba(tmp_path / "celeba", 3, write_rgb_file)
    (tmp_path / "celeba" / "images" / "000002.jpg").unlink()
    dm = MultiDomainDataModule(str(tmp_path / "celeba"), layout="celeba", domains=["Male"], **SMALL)
    with pytest.raises(FileNotFoundError, match=r"1 of the 3 images .*000002\.jpg"):
        dm.setup("test")
    dm = MultiDomainDataModule(str(tmp_path / "celeba"), layout="celeba", domains=["Male"], labels_file="x.txt", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"data\.labels_file: .*x\.txt does not exist"):
        dm.setup("test")


# UV maps: data.uv_dir


def _write_uv_maps(images: list[Path], images_folder: Path, uv_folder: Path, write, scale: int = 1) -> None:
    """Each image's pixels as its UV map (a PNG, ``scale`` times larger, each pixel repeated), so
    a map transformed exactly as its image equals it."""
    for path in images:
        pixels = np.round(read_image(path, 3) * 255).astype(np.uint8)
        larger = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
        write(uv_folder / path.relative_to(images_folder).with_suffix(".png"), larger)


@pytest.mark.parametrize("layout", ["folders", "celeba"])
def test_uv_maps_are_cropped_resized_and_flipped_with_their_images(tmp_path, write_rgb_file, folders, layout):
    """Random (asymmetric) pixels: a flipped image is told from an unflipped one, and a map
    flipped otherwise than its image would differ from it. The celeba maps are twice their
    images' size (20 x 16 for 10 x 8), resized to it before the 8 x 8 crop."""
    if layout == "folders":
        root, options = folders, dict(domains=["a", "b"], uv_dir="uv")
        _write_uv_maps(sorted(root.rglob("*.png")), root, root / "uv", write_rgb_file)
    else:
        root = tmp_path / "celeba"
        _write_celeba(root, 6, write_rgb_file)
        images_folder, uv_dir = root / "images", tmp_path / "uv_maps"
        _write_uv_maps(sorted(images_folder.iterdir()), images_folder, uv_dir, write_rgb_file, scale=2)
        options = dict(layout="celeba", domains=["Male"], center_crop=8, uv_dir=str(uv_dir), celeba_test_images=2)
    dm, unflipped = (MultiDomainDataModule(str(root), flip=flip, **options, **SMALL) for flip in (True, False))
    dm.setup("fit")
    unflipped.setup("fit")
    image = unflipped.train_dataset[(0, 0)]["image"]
    flipped = 0
    for seed in range(8):
        item = dm.train_dataset[(0, seed)]
        flipped += torch.equal(item["image"], image.flip(-1))
        assert torch.equal(item["image"], image.flip(-1)) or torch.equal(item["image"], image)
        torch.testing.assert_close(item["uv"], item["image"], atol=1e-5, rtol=0)
    assert 0 < flipped < 8
    batch = next(iter(dm.train_dataloader()))
    assert batch["uv"].shape == batch["image"].shape and batch["uv"].dtype == torch.float32
    assert -1 <= batch["uv"].min() and batch["uv"].max() <= 1
    torch.testing.assert_close(batch["uv"], batch["image"], atol=1e-5, rtol=0)
    evaluation = next(iter(dm.val_dataloader()))
    torch.testing.assert_close(evaluation["uv"], evaluation["image"], atol=1e-5, rtol=0)


def test_missing_uv_map_is_named_with_the_option(folders, write_rgb_file):
    _write_uv_maps(sorted(folders.rglob("*.png")), folders, folders / "uv", write_rgb_file)
    (folders / "uv" / "train" / "a" / "1.png").unlink()
    dm = MultiDomainDataModule(str(folders), domains=["a"], uv_dir="uv", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"data\.uv_dir: 1 of the 3 images have no UV map.*uv/train/a/1\.<image extension>"):
        dm.setup("fit")
    dm = MultiDomainDataModule(str(folders), domains=["a"], uv_dir="no_such_folder", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"no_such_folder does not exist.*data\.uv_dir"):
        dm.setup("fit")


# ganimation: root/imgs/, root/aus_openface.pkl, root/<split>_ids.csv


def _intensities(seed: int, count: int = 17) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 5, count)


@pytest.fixture
def ganimation(tmp_path: Path, write_rgb_file) -> tuple[Path, dict[str, np.ndarray]]:
    """ids a-f with images (e and f PNG, the others JPEG files); a-d and f have conditions,
    train ids a, b, c, e (e has none), test ids d, f."""
    root = tmp_path / "ganimation"
    conditions = {name: _intensities(i) for i, name in enumerate("abcdf")}
    for i, name in enumerate("abcdef"):
        extension = "png" if name in "ef" else "jpg"
        write_rgb_file(root / "imgs" / f"{name}.{extension}", _pixels(i))
    (root / "aus_openface.pkl").write_bytes(pickle.dumps(conditions, protocol=2))
    (root / "train_ids.csv").write_text("a.jpg\nb.jpg\nc.jpg\ne.jpg\n")
    (root / "test_ids.csv").write_text("d.jpg\nf.jpg\n")
    return root, conditions


def test_ganimation_batches_hold_intensities_over_5(ganimation):
    root, conditions = ganimation
    dm = MultiDomainDataModule(str(root), layout="ganimation", domains=AUS, **SMALL)
    assert dm.label_type == "continuous"
    with pytest.warns(UserWarning, match=r"1 of the 4 ids .*train_ids\.csv have no conditions.*: e"):
        dm.setup("fit")
    assert [p.name for p in dm.train_dataset.paths] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [p.name for p in dm.val_dataset.paths] == ["d.jpg", "f.png"]
    for path, label in _labels_by_path(dm.val_dataset).items():
        np.testing.assert_allclose(label, conditions[Path(path).stem] / 5, rtol=1e-6)
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 3, (17,), torch.float32, train=True)
    assert 0 <= batch["label"].min() and batch["label"].max() <= 1
    for path, label in zip(batch["path"], batch["label"]):
        np.testing.assert_allclose(label.numpy(), conditions[Path(path).stem] / 5, rtol=1e-6)


def test_ganimation_ids_without_images_are_counted_and_named(ganimation):
    root, _ = ganimation
    for name in "abc":
        (root / "imgs" / f"{name}.jpg").unlink()
    dm = MultiDomainDataModule(str(root), layout="ganimation", domains=AUS, **SMALL)
    with pytest.warns(UserWarning), pytest.raises(FileNotFoundError, match=r"3 of the 3 ids .* no image.*imgs: a, b, c"):
        dm.setup("fit")


def test_ganimation_wrong_number_of_conditions(ganimation):
    root, _ = ganimation
    dm = MultiDomainDataModule(str(root), layout="ganimation", domains=AUS[:5], **SMALL)
    with pytest.raises(ValueError, match=r"id d has 17 conditions, but data\.domains names 5"):
        dm.setup("test")


def test_ganimation_missing_ids_file(ganimation):
    root, _ = ganimation
    dm = MultiDomainDataModule(str(root), layout="ganimation", domains=AUS, test_split="valid", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"valid_ids\.csv does not exist.*<split>_ids\.csv"):
        dm.setup("test")


class _Payload:
    """Unpickling this runs os.mkdir(path)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def test_conditions_pickle_cannot_run_code(ganimation, tmp_path):
    root, conditions = ganimation
    target = tmp_path / "created_by_the_pickle"
    (root / "aus_openface.pkl").write_bytes(pickle.dumps({**conditions, "d": _Payload(target)}))
    dm = MultiDomainDataModule(str(root), layout="ganimation", domains=AUS, **SMALL)
    with pytest.raises(pickle.UnpicklingError, match=r"aus_openface\.pkl: it names \w+\.mkdir; only dicts"):
        dm.setup("test")
    assert not target.exists()
    assert pickle.loads(pickle.dumps({"x": _Payload(target)})) and target.exists()  # unrestricted would


def _as_numpy1(blob: bytes) -> bytes:
    """The pickle numpy 1 writes: module numpy.core where numpy 2's is numpy._core."""
    # Frames (protocols 4, 5) state their length; the unpickler does without them.
    frames = [position for op, _, position in pickletools.genops(blob) if op.name == "FRAME"]
    for position in reversed(frames):
        blob = blob[:position] + blob[position + 9 :]
    for module in ("multiarray", "numeric"):
        old, new = f"numpy._core.{module}".encode(), f"numpy.core.{module}".encode()
        blob = blob.replace(old + b"\n", new + b"\n")  # protocols 0-3: GLOBAL "module\nname\n"
        blob = blob.replace(bytes([0x8C, len(old)]) + old, bytes([0x8C, len(new)]) + new)  # 4, 5: length first
    return blob


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_array_pickles_of_numpy_1_and_2_load(tmp_path, protocol):
    data = {"a": np.arange(17, dtype=np.float64) / 4, "b": [np.float32(1.5), 2], "c": np.ones((2, 3), np.float32).T}
    blob = pickle.dumps(data, protocol=protocol)
    assert b"numpy.core." not in blob and b"numpy.core." in _as_numpy1(blob)
    for name, version in (("numpy2", blob), ("numpy1", _as_numpy1(blob))):
        (tmp_path / name).write_bytes(version)
        loaded = load_array_pickle(tmp_path / name)
        assert set(loaded) == {"a", "b", "c"} and loaded["b"] == [1.5, 2]
        np.testing.assert_array_equal(loaded["a"], data["a"])
        np.testing.assert_array_equal(loaded["c"], data["c"])


# csv: root/<split>.csv with path and condition columns


@pytest.fixture
def conditions_csv(tmp_path: Path, write_rgb_file) -> Path:
    root = tmp_path / "csv"
    for split, n in (("train", 5), ("test", 2)):
        rows = [("path", "smile", "note", "age")]
        for i in range(n):
            write_rgb_file(root / "images" / split / f"{i}.png", _pixels(i))
            rows.append((f"images/{split}/{i}.png", i / 10, "x", 20 + i))
        with open(root / f"{split}.csv", "w", newline="") as f:
            csv.writer(f).writerows(rows)
    return root


def test_csv_batches_hold_the_chosen_columns(conditions_csv):
    dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["age", "smile"], **SMALL)
    assert dm.label_type == "continuous"
    dm.setup("fit")
    for dataset, split in ((dm.train_dataset, "train"), (dm.val_dataset, "test")):
        for path, label in _labels_by_path(dataset).items():
            i = int(Path(path).stem)
            assert Path(path).parent == conditions_csv / "images" / split
            np.testing.assert_allclose(label, [20 + i, i / 10], rtol=1e-6)
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 4, (2,), torch.float32, train=True)
    for path, label in zip(batch["path"], batch["label"]):
        np.testing.assert_allclose(label.numpy(), [20 + int(Path(path).stem), int(Path(path).stem) / 10], rtol=1e-6)


def test_csv_unknown_column_lists_the_columns(conditions_csv):
    dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["smile", "height"], **SMALL)
    with pytest.raises(ValueError, match=r"\['height'\] are not columns .*\['path', 'smile', 'note', 'age'\]"):
        dm.setup("fit")


def test_csv_missing_images_and_non_numbers(conditions_csv):
    (conditions_csv / "images" / "train" / "3.png").unlink()
    dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["smile"], **SMALL)
    with pytest.raises(FileNotFoundError, match=r"1 of the 5 images listed in .*train\.csv do not exist: .*3\.png"):
        dm.setup("fit")
    dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["note"], **SMALL)
    with pytest.raises(ValueError, match=r"test\.csv line 2: the columns \['note'\] must hold numbers"):
        dm.setup("test")


# options, determinism, demo roots


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(), r"data\.domains is required: a list of the domain folder names"),
        (dict(layout="celeba"), r"data\.domains is required: a list of the attribute names"),
        (dict(domains="Male"), r"data\.domains is required"),
        (dict(domains=["a", "a"]), r"names a domain twice"),
        (dict(domains=["a"], layout="rafd"), r"data\.layout='rafd' is unknown"),
        (dict(domains=["a"], labels_file="x.txt"), r"data\.labels_file applies to the celeba and ganimation"),
        (dict(domains=["Male"], layout="celeba", val_split="val"), r"CelebA's splits are train and test"),
        (dict(domains=["a"], layout="celeba", root="demo:tints"), r"demo datasets come in the folders"),
        (dict(domains=["a"], image_size=0), r"data\.image_size=0"),
        (dict(domains=["a"], center_crop=-1), r"data\.center_crop=-1 non-negative \(0 for no crop"),
        (dict(domains=["Male"], layout="celeba", celeba_test_images=0), r"data\.celeba_test_images=0 must be positive"),
        (dict(domains=["a"], layout="csv", aligned_evaluation=True), r"aligned_evaluation applies to the folders"),
    ],
)
def test_bad_options_fail_at_instantiation(options, message):
    with pytest.raises(ValueError, match=message):
        MultiDomainDataModule(**options)


def _stream(root: Path, seed: int) -> list[tuple[list[str], torch.Tensor]]:
    L.seed_everything(seed, verbose=False)
    dm = MultiDomainDataModule(str(root), domains=["a", "b", "c"], image_size=8, batch_size=3, num_workers=0)
    dm.setup("fit")
    return [(batch["path"], batch["image"]) for _ in range(2) for batch in dm.train_dataloader()]


def test_training_stream_follows_the_seed(folders):
    first, again, other = _stream(folders, 0), _stream(folders, 0), _stream(folders, 1)
    for (paths, images), (paths_again, images_again) in zip(first, again):
        assert paths == paths_again and torch.equal(images, images_again)
    assert [p for p, _ in first] != [p for p, _ in other]


@pytest.mark.parametrize("flip", [True, False])
def test_training_images_are_flipped_at_random_when_flip(folders, flip):
    dm = MultiDomainDataModule(str(folders), domains=["a"], val_split="train", flip=flip, **SMALL)
    dm.setup("fit")
    image = dm.val_dataset[0]["image"]  # the same file, never flipped
    draws = [dm.train_dataset[(0, seed)]["image"] for seed in range(16)]
    mirrored = [torch.equal(d, image.flip(-1)) for d in draws]
    assert all(m or torch.equal(d, image) for m, d in zip(mirrored, draws))
    assert any(mirrored) == flip and all(mirrored) is False


def test_checkpointed_stream_resumes_and_evaluation_leaves_torchs_rng_alone(folders):
    dm = MultiDomainDataModule(str(folders), domains=["a", "b", "c"], image_size=8, batch_size=3, num_workers=0)
    dm.setup("fit")
    state = dm.state_dict()
    before = [batch["path"] for batch in dm.train_dataloader()]
    dm.load_state_dict(state)
    assert [batch["path"] for batch in dm.train_dataloader()] == before
    rng = torch.get_rng_state()
    evaluated = [[batch["image"] for batch in dm.val_dataloader()] for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(a, b) for a, b in zip(*evaluated))


def test_demo_roots(tmp_path, monkeypatch):
    dm = MultiDomainDataModule("demo:tints", domains=list(TINTS), image_size=32, batch_size=8, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_dataset) == 400 and len(dm.val_dataset) == 160
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32) and batch["label"].dtype == torch.int64
    dm = MultiDomainDataModule("demo:levels", layout="csv", domains=["brightness"], image_size=64, num_workers=0)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["image"].shape == (16, 3, 64, 64) and batch["label"].shape == (16, 1)
    assert 0.2 <= batch["label"].min() and batch["label"].max() <= 1.0
    with pytest.raises(ValueError, match=r"'levels' does not come in layout 'multi_domain'.*\('tints',\)"):
        MultiDomainDataModule("demo:levels", domains=["brightness"]).setup("fit")


# target labels: each training item's target, the label of an item drawn from the whole split


def test_training_items_hold_the_label_of_an_item_drawn_from_the_whole_split(conditions_csv, monkeypatch):
    """Five images with distinct labels: every target is a label of the split, many are other
    items', all five turn up; an item's key decides its draw; only the item's own image is read;
    evaluation items hold none."""
    import i2i_zoo.data.multi_domain as multi_domain

    dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["age", "smile"], **SMALL)
    dm.setup("fit")
    dataset, labels = dm.train_dataset, [tuple(label) for label in dm.train_dataset.labels]
    assert len(set(labels)) == 5
    read = []
    monkeypatch.setattr(multi_domain, "read_image", lambda path, *a, **k: read.append(path) or np.zeros((8, 8, 3), np.float32))
    drawn = {index: [tuple(dataset[(index, seed)]["target_label"].tolist()) for seed in range(60)] for index in range(5)}
    assert read == [dataset.paths[index] for index in range(5) for _ in range(60)]
    for index, targets in drawn.items():
        assert set(targets) <= set(labels)
        assert sum(t != labels[index] for t in targets) > 30  # mostly another image's (4 in 5)
    assert set(sum(drawn.values(), [])) == set(labels)
    assert tuple(dataset[(3, 7)]["target_label"].tolist()) == drawn[3][7]  # the same key, the same draw
    assert "target_label" not in dm.val_dataset[0]


def test_target_labels_follow_the_item_epoch_and_seed(folders):
    """Through the training loader: the same seed replays every epoch's targets, the next epoch
    draws others, and another seed other ones."""

    def epochs(seed: int) -> list[dict[str, int]]:
        L.seed_everything(seed, verbose=False)
        dm = MultiDomainDataModule(str(folders), domains=["a", "b", "c"], image_size=8, batch_size=3, num_workers=0)
        dm.setup("fit")
        return [
            {path: int(target) for batch in dm.train_dataloader() for path, target in zip(batch["path"], batch["target_label"])}
            for _ in range(2)
        ]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert first == again and first[0] != first[1] and first != other
    assert all(len(epoch) == 9 and set(epoch.values()) <= {0, 1, 2} for epoch in first)


def test_each_rank_draws_targets_from_the_whole_split(conditions_csv):
    """Under DDP a rank's items draw their targets from every training image, not from the
    rank's share of the epoch (five images with distinct labels, three per rank)."""
    for rank in (0, 1):
        torch.manual_seed(0)  # seed_everything gives every rank the same seed
        dm = MultiDomainDataModule(str(conditions_csv), layout="csv", domains=["age"], image_size=8, batch_size=3, num_workers=0)
        dm.trainer = _StubTrainer(rank, 2)
        dm.setup("fit")
        outside = 0
        for _ in range(4):
            (batch,) = list(dm.train_dataloader())
            outside += len(set(batch["target_label"].flatten().tolist()) - set(batch["label"].flatten().tolist()))
        assert outside > 0


# drop_last: the last partial training batch


class _StubTrainer:
    def __init__(self, rank: int, world_size: int):
        self.global_rank, self.world_size = rank, world_size


def _drop_last_module(folders: Path, drop_last: bool, batch_size: int, rank: int = 0, world_size: int = 1):
    torch.manual_seed(0)
    dm = MultiDomainDataModule(str(folders), domains=["a", "b", "c"], image_size=8, batch_size=batch_size,
                               num_workers=0, drop_last=drop_last)
    dm.trainer = _StubTrainer(rank, world_size)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("drop_last", [False, True])
def test_drop_last_drops_the_partial_training_batch(folders, drop_last):
    """Nine training images in batches of 4: 4, 4, 1, or 4, 4 with drop_last; evaluation keeps all."""
    dm = _drop_last_module(folders, drop_last, batch_size=4)
    loader = dm.train_dataloader()
    sizes = [len(batch["path"]) for batch in loader]
    assert sizes == ([4, 4] if drop_last else [4, 4, 1]) and len(loader) == len(sizes)
    assert [len(batch["path"]) for batch in dm.val_dataloader()] == [4, 2]


@pytest.mark.parametrize("drop_last", [False, True])
def test_drop_last_under_ddp_drops_each_ranks_partial_batch(folders, drop_last):
    """Two ranks share nine images as 5 + 5 (padded, as DistributedSampler); in batches of 2,
    each runs 2, 2, 1, or 2, 2 with drop_last: the same count on both, so no rank waits."""
    for rank in (0, 1):
        loader = _drop_last_module(folders, drop_last, batch_size=2, rank=rank, world_size=2).train_dataloader()
        sizes = [len(batch["path"]) for batch in loader]
        assert sizes == ([2, 2] if drop_last else [2, 2, 1]) and len(loader) == len(sizes)
    with pytest.raises(ValueError, match=r"data\.drop_last: each of 2 process\(es\) gets 5 of the 9 training images, less than data\.batch_size=6"):
        _drop_last_module(folders, True, batch_size=6, world_size=2).train_dataloader()


def test_drop_last_resumed_mid_epoch_runs_the_epochs_remaining_full_batches(folders):
    """A checkpoint after 2 of the epoch's 4 full batches of 2 (nine images): the resumed epoch
    runs batches 3 and 4 and drops the partial one, as the uninterrupted epoch."""
    dm = _drop_last_module(folders, True, batch_size=2)
    state = dm.state_dict()
    epoch = [batch["path"] for batch in dm.train_dataloader()]
    assert len(epoch) == 4
    resumed = _drop_last_module(folders, True, batch_size=2)
    resumed.load_state_dict({**state, "consumed_samples": 4})
    assert [batch["path"] for batch in resumed.train_dataloader()] == epoch[2:]
