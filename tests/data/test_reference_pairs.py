from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from i2i_zoo.data import AffineWarps, ReferencePairDataModule, ReferencePairDataset
from i2i_zoo.data.io import ImageReadError
from i2i_zoo.data.prepare import main
from i2i_zoo.data.transforms import build_transform

SMALL = dict(load_size=20, crop_size=16, batch_size=2, num_workers=0)


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _write(path: Path, pixels: np.ndarray) -> Path:
    """Write uint8 RGB (or gray) pixels as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels[:, :, ::-1] if pixels.ndim == 3 else pixels)
    return path


def _write_split(root: Path, split: str, sources: int, references: int, size: int = 20) -> None:
    for i in range(sources):
        _write(root / split / "source" / f"s{i}.png", _pixels((size, size, 3), i))
    for i in range(references):
        _write(root / split / "reference" / f"r{i}.png", _pixels((size, size, 3), 100 + i))


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    """``train`` with 3 sources and 4 references, ``val`` and ``test`` with 2 and 2."""
    root = tmp_path / "pairs"
    for split, sources, references in (("train", 3, 4), ("val", 2, 2), ("test", 2, 2)):
        _write_split(root, split, sources, references)
    return root


def _names(paths: list[str]) -> list[str]:
    return [Path(path).name for path in paths]


def test_folders_layout_batches(folders: Path) -> None:
    dm = ReferencePairDataModule(str(folders), **SMALL)
    assert dm.hparams.channels == 3  # linked to the model by the CLI
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"source", "reference", "source_path", "reference_path"}
    assert batch["source"].shape == batch["reference"].shape == (2, 3, 16, 16)
    assert batch["source"].dtype == batch["reference"].dtype == torch.float32
    assert batch["source"].min() >= -1 and batch["reference"].max() <= 1
    assert {Path(p).parent.parent.name for p in batch["source_path"] + batch["reference_path"]} == {"train"}
    assert {Path(p).parent.name for p in batch["reference_path"]} == {"reference"}
    val = next(iter(dm.val_dataloader()))
    assert _names(val["source_path"]) == ["s0.png", "s1.png"]
    assert _names(val["reference_path"]) == ["r0.png", "r1.png"]  # evaluation pairs by index
    assert val["source"].shape == (2, 3, 16, 16)
    dm.setup("test")
    assert {Path(p).parent.parent.name for p in next(iter(dm.test_dataloader()))["source_path"]} == {"test"}


def test_fixed_pairing_takes_the_reference_of_the_same_sorted_index(folders: Path) -> None:
    _write_split(folders, "few", sources=3, references=2)
    dataset = ReferencePairDataset(folders / "few/source", folders / "few/reference", random_pairing=False)
    pairs = [(Path(dataset[i]["source_path"]).name, Path(dataset[i]["reference_path"]).name) for i in range(3)]
    assert pairs == [("s0.png", "r0.png"), ("s1.png", "r1.png"), ("s2.png", "r0.png")]


def test_random_pairing_draws_from_the_key_seed_only(folders: Path) -> None:
    dataset = ReferencePairDataset(folders / "train/source", folders / "train/reference")

    def picks(key_seed: int, torch_seed: int) -> list[str]:
        torch.manual_seed(torch_seed)
        state = torch.get_rng_state()
        names = [Path(dataset[(i % 3, key_seed * 100 + i)]["reference_path"]).name for i in range(12)]
        assert torch.equal(torch.get_rng_state(), state)
        return names

    assert picks(0, torch_seed=1) == picks(0, torch_seed=2)
    assert picks(0, torch_seed=1) != picks(1, torch_seed=1)
    assert set(picks(0, torch_seed=1)) <= {f"r{i}.png" for i in range(4)}
    assert len(set(picks(0, torch_seed=1))) > 1


@pytest.mark.parametrize("layout", ["folders", "side_by_side"])
def test_source_and_reference_get_the_same_crop_and_flip(tmp_path: Path, layout: str) -> None:
    image = _pixels((24, 24, 3))
    if layout == "folders":
        _write(tmp_path / "train" / "source" / "x.png", image)
        _write(tmp_path / "train" / "reference" / "x.png", image)
    else:
        _write(tmp_path / "train" / "x.png", np.concatenate([image, image], axis=1))
    dm = ReferencePairDataModule(str(tmp_path), layout=layout, val_split=None, **SMALL)
    dm.setup("fit")
    crops = set()
    for seed in range(10):
        item = dm.train_dataset[(0, seed)]
        assert item["source"].shape == (3, 16, 16)
        assert torch.equal(item["source"], item["reference"])
        crops.add(item["source"].numpy().tobytes())
    assert len(crops) > 3


def test_side_by_side_layout_splits_each_image(tmp_path: Path) -> None:
    image = np.zeros((6, 12, 3), np.uint8)
    image[:, 6:] = 255
    path = _write(tmp_path / "val" / "x.png", image)
    _write(tmp_path / "val" / "y.png", image)
    dm = ReferencePairDataModule(str(tmp_path), layout="side_by_side", preprocess="none", **SMALL)
    dm.setup("validate")
    batch = next(iter(dm.val_dataloader()))
    assert batch["source"].shape == batch["reference"].shape == (2, 3, 6, 6)
    assert (batch["source"] == -1).all() and (batch["reference"] == 1).all()
    assert batch["source_path"][0] == batch["reference_path"][0] == str(path)
    _write(tmp_path / "val" / "odd.png", np.zeros((6, 11, 3), np.uint8))
    dm.setup("validate")
    with pytest.raises(ImageReadError, match=r"odd\.png has odd width 11.*source left half \| reference right half"):
        dm.val_dataset[0]


def test_side_by_side_halves_must_be_square_unless_allowed(tmp_path: Path) -> None:
    _write(tmp_path / "val" / "single.png", _pixels((8, 8, 3)))
    dm = ReferencePairDataModule(str(tmp_path), layout="side_by_side", preprocess="none", **SMALL)
    dm.setup("validate")
    with pytest.raises(ImageReadError, match=r"single\.png is 8x8 pixels.*\(source left \| reference right\).*data\.square_halves: false"):
        dm.val_dataset[0]
    dm = ReferencePairDataModule(str(tmp_path), layout="side_by_side", preprocess="none", square_halves=False, **SMALL)
    dm.setup("validate")
    assert dm.val_dataset[0]["source"].shape == (3, 8, 4)


def test_a_reference_of_another_size_is_resized_to_its_source(tmp_path: Path) -> None:
    _write(tmp_path / "s" / "a.png", _pixels((20, 24, 3)))
    _write(tmp_path / "r" / "b.png", np.full((10, 30, 3), 200, np.uint8))
    for transform in (None, build_transform(20, 16, True, True, preprocess="crop")):
        item = ReferencePairDataset(tmp_path / "s", tmp_path / "r", transform=transform)[0]
        assert item["reference"].shape == item["source"].shape
        assert torch.allclose(item["reference"], torch.tensor(200 / 255 * 2 - 1))


def test_gray_images(folders: Path) -> None:
    _write(folders / "gray" / "source" / "a.png", _pixels((20, 20)))
    _write(folders / "gray" / "reference" / "b.png", _pixels((20, 20), 1))
    dm = ReferencePairDataModule(str(folders), channels=1, val_split="gray", **SMALL)
    dm.setup("validate")
    item = dm.val_dataset[0]
    assert item["source"].shape == item["reference"].shape == (1, 16, 16)


def _write_warps(path: Path, rows: dict[str, np.ndarray]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(AffineWarps.COLUMNS)
        for name, matrix in rows.items():
            writer.writerow([name, *np.asarray(matrix)[:2].ravel()])


def _as_3x3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def test_warps_align_each_reference_onto_its_source(tmp_path: Path) -> None:
    smooth = gaussian_filter(_pixels((64, 64, 3)).astype(np.float32), (3, 3, 0))
    source = np.clip((smooth - smooth.mean()) * 8 + 128, 0, 255).astype(np.uint8)
    # The reference is the source rotated by 12 degrees and shifted: reference(R p) = source(p).
    rotation = _as_3x3(cv2.getRotationMatrix2D((32.0, 32.0), 12, 1.0)) @ _as_3x3(np.float64([[1, 0, 2.5], [0, 1, -1.5]]))
    reference = cv2.warpAffine(source, rotation[:2], (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _write(tmp_path / "train" / "source" / "s.png", source)
    _write(tmp_path / "train" / "reference" / "r.png", reference)
    canonical = _as_3x3(np.float64([[0.8, 0.1, 5.0], [-0.1, 0.9, 3.0]]))  # any shared frame
    _write_warps(tmp_path / "warps.csv", {
        "train/source/s.png": canonical,
        "train/reference/r.png": canonical @ np.linalg.inv(rotation),
    })

    def error(**options) -> float:
        dm = ReferencePairDataModule(str(tmp_path), preprocess="none", flip=False, val_split=None,
                                     batch_size=1, num_workers=0, **options)
        dm.setup("fit")
        item = dm.train_dataset[0]
        assert item["reference"].shape == item["source"].shape == (3, 64, 64)
        inside = (slice(None), slice(12, -12), slice(12, -12))
        return float((item["reference"] - item["source"])[inside].abs().mean())

    assert error() > 0.1
    assert error(warps_file="warps.csv") < 0.02


def test_an_image_without_a_warps_row_is_named(folders: Path) -> None:
    rows = {f"train/source/s{i}.png": np.eye(3) for i in range(3)}
    rows.update({f"train/reference/r{i}.png": np.eye(3) for i in range(3)})  # r3 is missing
    _write_warps(folders / "warps.csv", rows)
    dm = ReferencePairDataModule(str(folders), warps_file="warps.csv", val_split=None, **SMALL)
    with pytest.raises(ValueError, match=r"r3\.png has no row in the warps file .*warps\.csv"):
        dm.setup("fit")


@pytest.mark.parametrize(("content", "message"), [
    ("path,a11,a12\ntrain/source/s0.png,1,0\n", r"warps\.csv lacks the columns \['a13', 'a21', 'a22', 'a23'\]"),
    ("path,a11,a12,a13,a21,a22,a23\ntrain/source/s0.png,1,0,0,0,1,0\ntrain/source/s1.png,1,x,0,0,1,0\n",
     r"warps\.csv line 3: a11\.\.a23 must be numbers"),
    ("path,a11,a12,a13,a21,a22,a23\ntrain/source/s0.png,1,0,0\n", r"warps\.csv line 2: a11\.\.a23 must be numbers"),
    ("path,a11,a12,a13,a21,a22,a23\ntrain/source/s0.png,1,1,0,1,1,0\n", r"warps\.csv line 2: .*s0\.png is not invertible"),
])
def test_a_malformed_warps_file_names_the_file_and_the_line(folders: Path, content: str, message: str) -> None:
    (folders / "warps.csv").write_text(content)
    dm = ReferencePairDataModule(str(folders), warps_file="warps.csv", **SMALL)
    with pytest.raises(ValueError, match=message):
        dm.setup("fit")


def test_a_missing_warps_file_is_named(folders: Path) -> None:
    dm = ReferencePairDataModule(str(folders), warps_file="nowhere.csv", **SMALL)
    with pytest.raises(FileNotFoundError, match=r"data\.warps_file: .*nowhere\.csv does not exist"):
        dm.setup("fit")


@pytest.mark.parametrize(("options", "message"), [
    (dict(layout="grid"), r"data\.layout='grid' is unknown; use one of \('folders', 'side_by_side'\)"),
    (dict(layout="side_by_side", warps_file="warps.csv"), r"data\.warps_file needs data\.layout: folders"),
    (dict(preprocess="scale_width"), r"data\.preprocess"),
])
def test_bad_options_fail_at_instantiation(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReferencePairDataModule("unused", **options)


def test_missing_folders_name_the_layout_and_the_options(folders: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train.makeup does not exist.*data\.source_folder"):
        ReferencePairDataModule(str(folders), source_folder="makeup", **SMALL).setup("fit")
    with pytest.raises(FileNotFoundError, match=r"valid.source does not exist.*data\.val_split: null"):
        ReferencePairDataModule(str(folders), val_split="valid", **SMALL).setup("fit")
    dm = ReferencePairDataModule(str(folders), val_split=None, **SMALL)
    dm.setup("fit")
    assert dm.val_dataloader() == []


def test_corrupt_image_names_the_file(folders: Path) -> None:
    (folders / "val" / "source" / "s0.png").write_bytes(b"not a png")
    dm = ReferencePairDataModule(str(folders), **SMALL)
    dm.setup("validate")
    with pytest.raises(ImageReadError, match=r"val.source.s0\.png"):
        dm.val_dataset[0]


def _first_batch(root: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    dm = ReferencePairDataModule(str(root), **SMALL)
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


def test_the_torch_seed_decides_the_training_stream(folders: Path) -> None:
    first, again, other = (_first_batch(folders, seed) for seed in (0, 0, 1))
    assert torch.equal(first["source"], again["source"]) and first["reference_path"] == again["reference_path"]
    assert not torch.equal(first["reference"], other["reference"])


FIXED = dict(random_pairing=False, pairs_per_source=3, val_split=None, **SMALL)


def _pairs(dm: ReferencePairDataModule) -> list[tuple[str, str]]:
    dataset = dm.train_dataset
    return [(dataset.source_paths[s].name, dataset.reference_paths[r].name) for s, r in dataset.pairs]


def test_fixed_pairs_are_drawn_once_from_the_pairing_seed(folders: Path) -> None:
    torch.manual_seed(0)
    dm = ReferencePairDataModule(str(folders), **FIXED)
    dm.setup("fit")
    pairs = _pairs(dm)
    assert len(dm.train_dataset) == 3 * 3 == len(pairs)
    assert [source for source, _ in pairs] == ["s0.png"] * 3 + ["s1.png"] * 3 + ["s2.png"] * 3
    for s in range(3):  # distinct references per source
        assert len({reference for _, reference in pairs[3 * s : 3 * s + 3]}) == 3
    torch.manual_seed(1)  # another run seed, another instance: the same pairs
    again = ReferencePairDataModule(str(folders), **FIXED)
    again.setup("fit")
    assert _pairs(again) == pairs
    other = ReferencePairDataModule(str(folders), pairing_seed=1, **FIXED)
    other.setup("fit")
    assert _pairs(other) != pairs
    epochs = [[(Path(s).name, Path(r).name) for batch in dm.train_dataloader()
               for s, r in zip(batch["source_path"], batch["reference_path"])] for _ in range(2)]
    assert epochs[0] != epochs[1]  # another order, the same pairs, each once an epoch
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(pairs)
    item = dm.train_dataset[(4, 123)]
    assert (Path(item["source_path"]).name, Path(item["reference_path"]).name) == pairs[4]


def test_fixed_pairs_are_for_training_and_need_enough_references(folders: Path) -> None:
    dm = ReferencePairDataModule(str(folders), **{**FIXED, "val_split": "val"})
    dm.setup("fit")
    assert len(dm.val_dataset) == 2 and dm.val_dataset.pairs is None
    dm = ReferencePairDataModule(str(folders), **{**FIXED, "pairs_per_source": 5})
    with pytest.raises(ValueError, match=r"data\.pairs_per_source=5 exceeds the 4 references"):
        dm.setup("fit")


def _translation_root(tmp_path: Path, shift: float) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """A source and a reference with warps that move the reference ``shift`` pixels right onto
    the source; returns the root, both images and the reference-to-source matrix."""
    source, reference = _pixels((12, 16, 3), 1), _pixels((12, 16, 3), 2)
    _write(tmp_path / "train" / "source" / "s.png", source)
    _write(tmp_path / "train" / "reference" / "r.png", reference)
    canonical = _as_3x3(np.float64([[1.0, 0.2, 3.0], [0.1, 0.9, -2.0]]))
    to_source = np.float64([[1, 0, shift], [0, 1, 0]])
    _write_warps(tmp_path / "warps.csv", {
        "train/source/s.png": canonical, "train/reference/r.png": canonical @ _as_3x3(to_source),
    })
    return tmp_path, source / 255.0, reference / 255.0, to_source


def _aligned_reference(root: Path, **options) -> np.ndarray:
    dm = ReferencePairDataModule(str(root), warps_file="warps.csv", preprocess="none", flip=False,
                                 val_split=None, batch_size=1, num_workers=0, **options)
    dm.setup("fit")
    return (dm.train_dataset[0]["reference"].permute(1, 2, 0).numpy() + 1) / 2


def test_source_border_fills_what_the_warp_leaves_uncovered(tmp_path: Path) -> None:
    root, source, reference, to_source = _translation_root(tmp_path, 3.0)
    warped = cv2.warpAffine(reference, to_source, (16, 12), flags=cv2.INTER_LINEAR)
    aligned = _aligned_reference(root, warp_border="source")
    np.testing.assert_allclose(aligned[:, :3], source[:, :3], atol=1e-5)  # the uncovered strip
    np.testing.assert_allclose(aligned[:, 3:], warped[:, 3:], atol=1e-5)
    np.testing.assert_allclose(aligned[:, 3:], reference[:, :-3], atol=1e-5)
    # The default replicates the reference's edge column into the strip.
    replicated = _aligned_reference(root)
    np.testing.assert_allclose(replicated[:, :3], np.repeat(reference[:, :1], 3, axis=1), atol=1e-5)
    np.testing.assert_allclose(replicated[:, 3:], reference[:, :-3], atol=1e-5)


def test_source_border_blends_the_half_covered_edge(tmp_path: Path) -> None:
    root, source, reference, _ = _translation_root(tmp_path, 2.5)
    aligned = _aligned_reference(root, warp_border="source")
    np.testing.assert_allclose(aligned[:, :2], source[:, :2], atol=1e-5)
    # Column 2 samples the reference at x = -0.5: half of it lies outside, filled from the source.
    np.testing.assert_allclose(aligned[:, 2], 0.5 * reference[:, 0] + 0.5 * source[:, 2], atol=1e-2)
    np.testing.assert_allclose(aligned[:, 3:], (reference[:, :-3] + reference[:, 1:-2]) / 2, atol=1e-2)


@pytest.mark.parametrize(("options", "message"), [
    (dict(pairs_per_source=10), r"data\.pairs_per_source draws each source's references once.*data\.random_pairing: false"),
    (dict(pairs_per_source=0, random_pairing=False), r"data\.pairs_per_source=0 is out of range"),
    (dict(pairs_per_source=2, random_pairing=False, layout="side_by_side"), r"data\.pairs_per_source needs data\.layout: folders"),
    (dict(warp_border="source"), r"data\.warp_border: source needs data\.warps_file"),
    (dict(warp_border="reflect", warps_file="warps.csv"), r"data\.warp_border='reflect' is unknown"),
])
def test_bad_pairing_and_border_options_name_the_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReferencePairDataModule("unused", **options)


def test_prepare_writes_the_fixed_pairs_side_by_side(folders: Path, tmp_path: Path) -> None:
    rows = {f"train/source/s{i}.png": _as_3x3(np.float64([[1, 0, i], [0, 1, 0]])) for i in range(3)}
    rows.update({f"train/reference/r{i}.png": np.eye(3) for i in range(4)})
    rows.update({f"{split}/{role}/{role[0]}{i}.png": np.eye(3)
                 for split in ("val", "test") for role in ("source", "reference") for i in range(2)})
    _write_warps(folders / "warps.csv", rows)
    options = dict(pairs_per_source=2, pairing_seed=3, warps_file="warps.csv", warp_border="source")
    out = tmp_path / "written"
    main(["reference_pairs", "--input", str(folders), "--output", str(out), "--pairs_per_source", "2",
          "--pairing_seed", "3", "--warps_file", "warps.csv", "--warp_border", "source"])
    assert sorted(p.name for p in out.iterdir()) == ["test", "train", "val"]
    dm = ReferencePairDataModule(str(folders), random_pairing=False, preprocess="none", flip=False,
                                 batch_size=1, num_workers=0, **options)
    dm.setup("fit")
    written = ReferencePairDataModule(str(out), layout="side_by_side", val_split=None, preprocess="none",
                                      flip=False, batch_size=1, num_workers=0)
    written.setup("fit")
    assert len(written.train_dataset) == len(dm.train_dataset) == 6
    for i, (s, r) in enumerate(dm.train_dataset.pairs):
        assert written.train_dataset.paths[i].name == f"{i:06d}_s{s}_r{r}.png"
        expected, read = dm.train_dataset[i], written.train_dataset[i]
        for key in ("source", "reference"):
            assert torch.allclose(read[key], expected[key], atol=1.01 / 255)
    assert len(list((out / "val").iterdir())) == 2  # evaluation pairs by index
    for bad, message in ((folders / "train" / "new", r"lies inside --input"), (out, r"is not empty")):
        with pytest.raises(ValueError, match=message):
            main(["reference_pairs", "--input", str(folders), "--output", str(bad), "--pairs_per_source", "1",
                  "--warps_file", "warps.csv"])
