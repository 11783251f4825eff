import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from i2i_zoo.data import demo

CASES = [(name, layout) for name in demo.DEMO_DATASETS for layout in demo.LAYOUTS]
CASE_IDS = [f"{name}-{layout}" for name, layout in CASES]
SIZE = demo.IMAGE_SIZE


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every demo dataset in every layout, generated once into a private cache."""
    root = tmp_path_factory.mktemp("demo_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("I2I_ZOO_DEMO_DIR", str(root))
        return {case: demo.ensure_demo(*case) for case in CASES}


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


@pytest.mark.parametrize("name", demo.DEMO_DATASETS)
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


@pytest.mark.parametrize("name", demo.DEMO_DATASETS)
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


@pytest.mark.parametrize("name", demo.DEMO_DATASETS)
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


@pytest.mark.parametrize("name", demo.DEMO_DATASETS)
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
