import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.data import demo
from i2i_zoo.data.demo.scenes import palette_scenes, shapes
from i2i_zoo.data.degradations import DEGRADATIONS
from i2i_zoo.data.io import to_tensor

CASES = [(name, layout) for name, layouts in demo.DATASET_LAYOUTS.items() for layout in layouts]
CASE_IDS = [f"{name}-{layout}" for name, layout in CASES]
TWO_DOMAIN = [n for n, layouts in demo.DATASET_LAYOUTS.items() if layouts == ("paired", "unpaired")]
SIZE = demo.IMAGE_SIZE


class Generated(dict):
    """Demo folders by ``(name, layout)``, each generated into ``root`` when first asked for (an
    xdist worker generates only the datasets of its tests)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, case: tuple[str, str]) -> Path:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("I2I_ZOO_DEMO_DIR", str(self.root))
            self[case] = demo.ensure_demo(*case)
        return self[case]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Every demo dataset in each of its layouts, generated once into a private cache."""
    return Generated(tmp_path_factory.mktemp("demo_cache"))


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


def read_pairs(folder: Path) -> list[dict[str, str]]:
    with open(folder / "pairs.csv", newline="") as f:
        return list(csv.DictReader(f))


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_folder_is_named_after_dataset_layout_and_version(generated, case):
    name, layout = case
    assert generated[case].name == f"{name}-{layout}-v{demo.VERSION}"


@pytest.mark.parametrize("name", TWO_DOMAIN)
def test_paired_layout(generated, name):
    folder = generated[name, "paired"]
    assert {p.name for p in folder.iterdir()} == set(demo.SPLIT_SIZES)
    for split, size in demo.SPLIT_SIZES.items():
        files = sorted((folder / split).iterdir())
        assert [f.name for f in files] == [f"{i:04d}.png" for i in range(1, size + 1)]
        for f in files:
            image = read(f)
            assert image.shape == (SIZE, 2 * SIZE, 3) and image.dtype == np.uint8
    if name == "edges2photos":  # the gray edge map is replicated into the RGB A half
        a = read(folder / "train" / "0001.png")[:, :SIZE]
        assert (a == a[..., :1]).all()


@pytest.mark.parametrize("name", TWO_DOMAIN)
def test_unpaired_layout(generated, name):
    folder = generated[name, "unpaired"]
    domains = {"trainA", "trainB", "testA", "testB"}
    assert {p.name for p in folder.iterdir()} == domains | {"pairs.csv"}
    a_shape = (SIZE, SIZE) if name == "edges2photos" else (SIZE, SIZE, 3)
    for domain in domains:
        files = sorted((folder / domain).iterdir())
        assert len(files) == demo.SPLIT_SIZES[domain[:-1]]
        for f in files:
            assert read(f).shape == (a_shape if domain.endswith("A") else (SIZE, SIZE, 3))


@pytest.mark.parametrize("name", TWO_DOMAIN)
def test_pairs_csv_is_a_bijection_per_split(generated, name):
    folder = generated[name, "unpaired"]
    rows = read_pairs(folder)
    assert list(rows[0]) == ["split", "A", "B"]
    for split in ("train", "test"):
        listed = [r for r in rows if r["split"] == split]
        for domain in "AB":
            paths = [r[domain] for r in listed]
            on_disk = [f"{split}{domain}/{p.name}" for p in (folder / f"{split}{domain}").iterdir()]
            assert sorted(paths) == sorted(on_disk)
        # The names must not give the pairing away.
        assert any(Path(r["A"]).name != Path(r["B"]).name for r in listed)


@pytest.mark.parametrize("name", TWO_DOMAIN)
def test_hidden_pairs_are_the_paired_layouts_pairs(generated, name):
    paired, unpaired = generated[name, "paired"], generated[name, "unpaired"]
    for row in read_pairs(unpaired):
        ab = read(paired / row["split"] / Path(row["A"]).name)
        a = read(unpaired / row["A"])
        np.testing.assert_array_equal(ab[:, :SIZE, 0] if a.ndim == 2 else ab[:, :SIZE], a)
        np.testing.assert_array_equal(ab[:, SIZE:], read(unpaired / row["B"]))


def test_edge_maps_are_binary_and_sparse(generated):
    folder = generated["edges2photos", "unpaired"]
    edges = np.stack([read(f) for f in sorted((folder / "trainA").iterdir())])
    assert set(np.unique(edges)) <= {0, 255}
    assert 0.02 < (edges == 0).mean() < 0.4


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_same_seed_gives_identical_files(generated, case, tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))
    assert digests(demo.ensure_demo(*case)) == digests(generated[case])


def test_other_seed_gives_other_data(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))
    folder = demo.ensure_demo("edges2photos", "unpaired", seed=1)
    default = generated["edges2photos", "unpaired"]
    assert folder.name != default.name
    assert (folder / "trainB/0001.png").read_bytes() != (default / "trainB/0001.png").read_bytes()


def test_existing_folder_is_trusted(generated, monkeypatch):
    folder = generated["shapes", "paired"]
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(folder.parent))
    monkeypatch.setattr(demo, "_write", lambda *args: pytest.fail("regenerated existing data"))
    mtimes = [p.stat().st_mtime_ns for p in (folder, folder / "train" / "0001.png")]
    assert demo.ensure_demo("shapes", "paired") == folder
    assert [p.stat().st_mtime_ns for p in (folder, folder / "train" / "0001.png")] == mtimes


def test_losing_the_race_keeps_the_winners_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))
    target = tmp_path / f"edges2photos-unpaired-v{demo.VERSION}"

    def write_then_lose(name: str, layout: str, seed: int, folder: Path) -> None:
        (folder / "loser").touch()
        target.mkdir()  # another process renames its copy into place first
        (target / "winner").touch()

    monkeypatch.setattr(demo, "_write", write_then_lose)
    assert demo.ensure_demo("edges2photos", "unpaired") == target
    assert [p.name for p in target.iterdir()] == ["winner"]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary folder left


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))

    def fail(*args) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(demo, "_write", fail)
    with pytest.raises(RuntimeError, match="boom"):
        demo.ensure_demo("shapes", "paired")
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_ZOO_DEMO_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert demo.cache_dir() == tmp_path / "home" / ".cache" / "i2i_zoo" / "demo"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo.cache_dir() == tmp_path / "xdg" / "i2i_zoo" / "demo"
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path / "demo"))
    assert demo.cache_dir() == tmp_path / "demo"


def test_resolve_root_passes_other_roots_through(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert demo.resolve_root("~/data/facades", "paired") == tmp_path / "data" / "facades"
    assert demo.resolve_root(Path("/no/such/folder"), "anything") == Path("/no/such/folder")
    assert list(tmp_path.iterdir()) == []


def test_resolve_root_finds_demo(generated, monkeypatch):
    folder = generated["shapes", "unpaired"]
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(folder.parent))
    assert demo.resolve_root("demo:shapes", "unpaired") == folder


@pytest.mark.parametrize(
    ("root", "layout", "valid"),
    [("demo:nope", "paired", "edges2photos"), ("demo:shapes", "triplets", "unpaired")],
)
def test_resolve_root_rejects_unknown_demo(root, layout, valid, tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=valid):
        demo.resolve_root(root, layout)


def test_shapes_class_decides_colour_but_not_texture(generated):
    """Learnable (class -> mean colour) yet not deterministic (texture differs per image)."""
    ab = np.stack([read(f) for f in sorted((generated["shapes", "paired"] / "train").iterdir())])
    labels, photos = ab[:, :, :SIZE], ab[:, :, SIZE:].astype(np.float64) / 255
    codes = labels.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1])  # one int per colour
    palette, classes = np.unique(codes, return_inverse=True)
    assert len(palette) == 7  # background and six shape classes
    means, spreads = {}, {}  # per class: region mean colour and texture std, per image
    for c in range(len(palette)):
        for image, mask in zip(photos, classes == c):
            if mask.sum() >= 30:
                means.setdefault(c, []).append(image[mask].mean(0))
                spreads.setdefault(c, []).append(image[mask].std(0).mean())
    centroids = np.array([np.mean(means[c], 0) for c in range(len(palette))])
    distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    assert distances[~np.eye(len(palette), dtype=bool)].min() > 0.2
    for c, region_means in means.items():
        # Each region's mean colour lies nearest to its own class's colour ...
        nearest = np.linalg.norm(np.array(region_means)[:, None] - centroids, axis=-1).argmin(1)
        assert (nearest == c).mean() > 0.95
        # ... while its pixels carry texture the label does not fix.
        assert np.median(spreads[c]) > 0.04


def test_every_layout_has_a_dataset():
    assert TWO_DOMAIN == ["shapes", "edges2photos", "recolor"]
    assert {layout for _, layout in CASES} == set(demo.LAYOUTS)
    assert demo.DEMO_DATASETS == tuple(demo.DATASET_LAYOUTS)


@pytest.mark.parametrize(
    ("name", "layout", "expected"),
    [
        ("photos", "paired",
         r"'photos'.*'paired'.*\('super_resolution',\).*\('shapes', 'edges2photos', 'recolor'\)"),
        ("shapes", "reference", r"'shapes'.*'reference'.*\('paired', 'unpaired'\).*\('palettes',\)"),
        ("palettes", "super_resolution", r"'palettes'.*'super_resolution'.*\('reference',\).*\('photos',\)"),
    ],
)
def test_wrong_layout_for_a_dataset_names_both_and_the_choices(
    name, layout, expected, tmp_path, monkeypatch
):
    monkeypatch.setenv("I2I_ZOO_DEMO_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=expected):
        demo.resolve_root(f"demo:{name}", layout)
    assert list(tmp_path.iterdir()) == []


# super_resolution: photos in the DIV2K layout

SR_SIZE = demo.SR_IMAGE_SIZE


def sr_numbers() -> dict[str, list[str]]:
    """Each split's image numbers: DIV2K's count on across splits (train 0001-0200, valid 0201-0220)."""
    numbers, start = {}, 1
    for split, size in demo.SR_SPLIT_SIZES.items():
        numbers[split] = [f"{i:04d}" for i in range(start, start + size)]
        start += size
    return numbers


def test_super_resolution_layout(generated):
    folder = generated["photos", "super_resolution"]
    assert demo.SR_SPLIT_SIZES == {"train": 200, "valid": 20} and demo.SR_SCALES == (2, 4)
    assert {p.name for p in folder.iterdir()} == {
        "DIV2K_train_HR", "DIV2K_train_LR_bicubic", "DIV2K_valid_HR", "DIV2K_valid_LR_bicubic",
    }  # fmt: skip
    for split, numbers in sr_numbers().items():
        hr_files = sorted((folder / f"DIV2K_{split}_HR").iterdir())
        assert [f.name for f in hr_files] == [f"{n}.png" for n in numbers]
        assert {p.name for p in (folder / f"DIV2K_{split}_LR_bicubic").iterdir()} == {"X2", "X4"}
        for scale in demo.SR_SCALES:
            lr_files = sorted((folder / f"DIV2K_{split}_LR_bicubic" / f"X{scale}").iterdir())
            assert [f.name for f in lr_files] == [f"{n}x{scale}.png" for n in numbers]
            assert read(lr_files[0]).shape == (SR_SIZE // scale, SR_SIZE // scale, 3)
        for f in hr_files:
            image = read(f)
            assert image.shape == (SR_SIZE, SR_SIZE, 3) and image.dtype == np.uint8
            assert image.std() > 5  # a photo crop, not a flat patch


def test_hr_crops_are_all_different(generated):
    folder = generated["photos", "super_resolution"]
    hashes = {hashlib.sha256(read(f).tobytes()).hexdigest() for f in folder.glob("DIV2K_*_HR/*.png")}
    assert len(hashes) == sum(demo.SR_SPLIT_SIZES.values())


@pytest.mark.parametrize("scale", demo.SR_SCALES)
def test_lr_is_the_bicubic_degradation_of_the_written_hr(generated, scale):
    folder = generated["photos", "super_resolution"]
    for split, numbers in sr_numbers().items():
        for n in numbers:
            hr = read(folder / f"DIV2K_{split}_HR" / f"{n}.png")
            lr = read(folder / f"DIV2K_{split}_LR_bicubic" / f"X{scale}" / f"{n}x{scale}.png")
            expected = np.round(DEGRADATIONS["bicubic"](hr.astype(np.float32) / 255, scale) * 255)
            np.testing.assert_array_equal(lr, expected.astype(np.uint8))


# reference: palettes as source/reference pairs with their warps


def read_warps(folder: Path) -> dict[str, np.ndarray]:
    """warps.csv as path -> 3x3 matrix (the 2x3 affine with a last row 0, 0, 1)."""
    with open(folder / "warps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "a11", "a12", "a13", "a21", "a22", "a23"]
    columns = ("a11", "a12", "a13", "a21", "a22", "a23")
    return {r["path"]: np.array([*(float(r[c]) for c in columns), 0, 0, 1]).reshape(3, 3) for r in rows}


def align(reference: np.ndarray, a_source: np.ndarray, a_reference: np.ndarray, **kwargs) -> np.ndarray:
    """The reference moved into its source's pixel frame: warped by inverse(A_source) @ A_reference."""
    matrix = (np.linalg.inv(a_source) @ a_reference)[:2]
    return cv2.warpAffine(reference, matrix, reference.shape[1::-1], **kwargs)


def test_reference_layout(generated):
    folder = generated["palettes", "reference"]
    assert {p.name for p in folder.iterdir()} == set(demo.SPLIT_SIZES) | {"warps.csv"}
    for split, size in demo.SPLIT_SIZES.items():
        assert {p.name for p in (folder / split).iterdir()} == {"source", "reference"}
        names = [f"{i:04d}.png" for i in range(1, size + 1)]
        for role in ("source", "reference"):
            files = sorted((folder / split / role).iterdir())
            assert [f.name for f in files] == names
            for f in files:
                image = read(f)
                assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8


def test_warps_csv_covers_every_image_with_its_map_to_the_canonical_frame(generated):
    folder = generated["palettes", "reference"]
    warps = read_warps(folder)
    assert sorted(warps) == sorted(str(p.relative_to(folder)) for p in folder.glob("*/*/*.png"))
    for path, matrix in warps.items():
        if "/source/" in path:
            np.testing.assert_array_equal(matrix, np.eye(3))
            continue
        # Its inverse, the warp the reference was rendered with: a similarity about the image
        # centre, rotation within 10 degrees, scale 0.9-1.1, shift within 4 px.
        warp = np.linalg.inv(matrix)
        scale = np.sqrt(np.linalg.det(warp[:2, :2]))
        angle = np.degrees(np.arctan2(warp[1, 0], warp[0, 0]))
        assert 0.9 <= scale <= 1.1 and abs(angle) <= 10
        np.testing.assert_allclose(warp[:2, :2] @ warp[:2, :2].T, scale**2 * np.eye(2), atol=1e-12)
        centre = (SIZE - 1) / 2
        assert np.abs(warp[:2] @ [centre, centre, 1] - centre).max() <= 4


def edge_strength(image: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(image.astype(np.float32) / 255, (0, 0), 1.0)
    return np.sqrt(sum(cv2.Sobel(smooth, cv2.CV_32F, dx, 1 - dx) ** 2 for dx in (0, 1)).sum(-1))


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


def test_references_align_with_their_sources_through_the_warps(generated):
    """Edges agree far better after the documented warp than before it or with the opposite warp."""
    folder = generated["palettes", "reference"]
    warps = read_warps(folder)
    before, after, opposite = [], [], []
    for i in range(1, demo.SPLIT_SIZES["val"] + 1):
        source_path, reference_path = f"val/source/{i:04d}.png", f"val/reference/{i:04d}.png"
        source, reference = read(folder / source_path), read(folder / reference_path)
        a_source, a_reference = warps[source_path], warps[reference_path]
        # Compare where the warp has data, away from the border (edges of the uncovered corners).
        covered = align(np.ones((SIZE, SIZE), np.float32), a_source, a_reference) > 0.999
        mask = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        edges = edge_strength(source)
        before.append(correlation(edges, edge_strength(reference), mask))
        after.append(correlation(edges, edge_strength(align(reference, a_source, a_reference)), mask))
        opposite.append(correlation(edges, edge_strength(align(reference, a_reference, a_source)), mask))
    before, after, opposite = map(np.array, (before, after, opposite))
    assert np.median(after) > 0.7
    assert (after > before).all() and np.median(after - before) > 0.2
    assert (after > opposite).all()


def test_warp_convention_on_the_label_maps():
    """The scenes behind the images: the reference's label map, aligned, is the source's."""
    labels, _, warps, reference_labels, _ = palette_scenes(np.random.default_rng(0), 16)
    for label, warp, reference_label in zip(labels, warps, reference_labels):
        # The matrices warps.csv holds for this pair.
        a_source, a_reference = np.eye(3), np.vstack([cv2.invertAffineTransform(warp), [0, 0, 1]])
        aligned = align(reference_label.astype(np.uint8), a_source, a_reference,
                        flags=cv2.INTER_NEAREST, borderValue=255)
        covered = aligned != 255
        assert covered.mean() > 0.7
        # Nearest-neighbour resampling twice may move a boundary pixel by one.
        assert (aligned[covered] == label[covered]).mean() > 0.97
        assert (reference_label != label).mean() > 0


def test_palettes_differ_between_source_and_reference(generated):
    """Aligned with its source, a reference's shapes have other colours."""
    folder = generated["palettes", "reference"]
    warps = read_warps(folder)
    distances = []
    for i in range(1, demo.SPLIT_SIZES["val"] + 1):
        source_path, reference_path = f"val/source/{i:04d}.png", f"val/reference/{i:04d}.png"
        source = read(folder / source_path).astype(np.float32) / 255
        reference = read(folder / reference_path).astype(np.float32) / 255
        a_source, a_reference = warps[source_path], warps[reference_path]
        aligned = align(reference, a_source, a_reference)
        covered = align(np.ones((SIZE, SIZE), np.float32), a_source, a_reference) > 0.999
        # Over the shapes (the coloured pixels); the near-gray background keeps its colour.
        saturated = covered & (source.max(-1) - source.min(-1) > 0.25)
        distances.append(np.linalg.norm(source - aligned, axis=-1)[saturated].mean())
    assert np.median(distances) > 0.4
    assert min(distances) > 0.25


# multi_domain: tints in the folders layout of the multi-domain datamodule


def read_tensors(paths: list[Path]) -> torch.Tensor:
    """Images as an (N, 3, H, W) tensor in [-1, 1], as the datamodules give them."""
    return torch.stack([to_tensor(read(p).astype(np.float32) / 255) for p in paths])


def test_tints_layout(generated):
    folder = generated["tints", "multi_domain"]
    assert demo.DOMAIN_SPLIT_SIZES == {"train": 400, "test": 40}
    assert list(demo.TINTS) == ["red", "green", "blue", "yellow"]
    assert {p.name for p in folder.iterdir()} == {"train", "test"}
    for split, per_tint in (("train", 100), ("test", 40)):
        assert {p.name for p in (folder / split).iterdir()} == set(demo.TINTS)
        for tint in demo.TINTS:
            files = sorted((folder / split / tint).iterdir())
            assert [f.name for f in files] == [f"{i:04d}.png" for i in range(1, per_tint + 1)]
            assert all(read(f).shape == (SIZE, SIZE, 3) for f in files[:5])


def test_test_scenes_come_in_every_tint_with_the_same_luma(generated):
    """Equal names are one scene: a tint keeps each pixel's luma (but where it clips)."""
    folder = generated["tints", "multi_domain"] / "test"
    luma = np.array(demo.LUMA)
    for name in ("0001.png", "0040.png"):
        lumas = [read(folder / tint / name) @ luma for tint in demo.TINTS]
        for other in lumas[1:]:
            assert np.corrcoef(lumas[0].ravel(), other.ravel())[0, 1] > 0.95
    # ... while different scenes differ.
    a, b = (read(folder / "red" / name) @ luma for name in ("0001.png", "0002.png"))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.5


def test_tint_scores_recover_the_tint_of_every_demo_image(generated):
    folder = generated["tints", "multi_domain"]
    correct = total = 0
    for index, tint in enumerate(demo.TINTS):
        paths = sorted((folder / "train" / tint).iterdir()) + sorted((folder / "test" / tint).iterdir())
        scores = demo.tint_scores(read_tensors(paths))
        assert scores.shape == (len(paths), len(demo.TINTS))
        correct += int((scores.argmax(1) == index).sum())
        total += len(paths)
    assert total == 4 * 140 and correct / total >= 0.95
    gray = torch.zeros(2, 3, 8, 8)
    assert demo.tint_scores(gray).abs().max() < 1e-6
    with pytest.raises(ValueError, match=r"tint_scores takes RGB images"):
        demo.tint_scores(torch.zeros(2, 1, 8, 8))


# conditions: levels in the csv layout


def read_levels(folder: Path, split: str) -> list[dict[str, str]]:
    with open(folder / f"{split}.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_levels_layout(generated):
    folder = generated["levels", "conditions"]
    assert {p.name for p in folder.iterdir()} == {"images", "train.csv", "test.csv"}
    rows = {split: read_levels(folder, split) for split in ("train", "test")}
    assert list(rows["train"][0]) == ["path", "brightness"]
    paths = [row["path"] for split in ("train", "test") for row in rows[split]]
    assert [len(rows["train"]), len(rows["test"])] == [400, 40]
    assert paths == [f"images/{i:04d}.png" for i in range(1, 441)]
    assert sorted(p.name for p in (folder / "images").iterdir()) == [Path(p).name for p in paths]
    values = np.array([float(row["brightness"]) for split in rows for row in rows[split]])
    assert 0.2 <= values.min() < 0.25 and 0.95 < values.max() <= 1.0


def test_levels_images_are_the_shapes_photos_times_their_brightness(generated):
    """The documented formula: round(b * photo), photo the 8-bit shapes photo."""
    folder = generated["levels", "conditions"]
    rows = read_levels(folder, "train") + read_levels(folder, "test")
    content_seed, _ = np.random.SeedSequence(0).spawn(2)
    _, photos = shapes(np.random.default_rng(content_seed), len(rows))
    for row, photo in list(zip(rows, photos))[::20]:
        expected = np.round(float(row["brightness"]) * photo.astype(np.float64))
        assert np.abs(read(folder / row["path"]) - expected).max() <= 1  # rounding ties


def test_brightness_of_estimates_the_levels_condition(generated):
    folder = generated["levels", "conditions"]
    rows = read_levels(folder, "train") + read_levels(folder, "test")
    estimate = demo.brightness_of(read_tensors([folder / row["path"] for row in rows]))
    error = estimate - torch.tensor([float(row["brightness"]) for row in rows])
    assert error.abs().mean() < 0.02 and error.abs().max() < 0.08
