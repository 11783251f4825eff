"""The class_folders multi-domain layout: one folder per class, split by a seeded fraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.data.multi_domain_readers import class_split

SMALL = dict(image_size=8, batch_size=4, num_workers=0)


def _write_class(root: Path, name: str, count: int, write, start: int = 0) -> None:
    for i in range(start, start + count):
        write(root / name / f"{i:03d}.png", np.full((10, 10, 3), (7 * i) % 256, np.uint8))


def _names(dataset) -> dict[int, set[str]]:
    """Each label's file names in ``dataset``."""
    names: dict[int, set[str]] = {}
    for path, label in zip(dataset.paths, dataset.labels):
        names.setdefault(int(label), set()).add(path.name)
    return names


def _splits(root: Path, domains: list[str], **options) -> dict[str, dict[int, set[str]]]:
    """The file names of the train, val and test splits, by label."""
    out = {}
    for split in ("val", "test"):
        dm = MultiDomainDataModule(str(root), layout="class_folders", domains=domains, val_split=split, **options, **SMALL)
        dm.setup("fit")
        out["train"], out[split] = _names(dm.train_dataset), _names(dm.val_dataset)
    return out


@pytest.mark.parametrize(
    "num_files, fractions, counts",
    [
        (20, (0.8, 0.1, 0.1), (16, 2, 2)),
        (10, (0.6, 0.25, 0.15), (5, 3, 2)),  # 2.5 and 1.5 round half up
        (3, (0.8, 0.1, 0.1), (1, 1, 1)),  # a positive fraction takes at least one file
        (7, (0.7, 0.3, 0.0), (5, 2, 0)),
        (5, (1.0, 0.0, 0.0), (5, 0, 0)),
    ],
)
def test_class_split_is_deterministic_disjoint_and_cut_by_the_fractions(num_files, fractions, counts):
    split = class_split(num_files, fractions, seed=3, name="cat")
    assert split == class_split(num_files, fractions, seed=3, name="cat")
    assert tuple(len(split[key]) for key in ("train", "val", "test")) == counts
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(num_files))
    assert all(indices == sorted(indices) for indices in split.values())


def test_class_split_depends_on_the_seed_and_the_class_name():
    fractions = (0.5, 0.25, 0.25)
    base = class_split(40, fractions, seed=0, name="cat")
    assert class_split(40, fractions, seed=1, name="cat") != base
    assert class_split(40, fractions, seed=0, name="dog") != base


def test_class_split_with_too_few_files_names_the_class_and_option():
    with pytest.raises(ValueError, match=r"class 'cat' has 2 images: too few for data\.split_fractions"):
        class_split(2, (0.8, 0.1, 0.1), seed=0, name="cat")


def test_batches_carry_each_class_folders_label(tmp_path, write_rgb_file):
    for name, count in (("cat", 10), ("dog", 20), ("ignored", 5)):
        _write_class(tmp_path, name, count, write_rgb_file)
    dm = MultiDomainDataModule(str(tmp_path), layout="class_folders", domains=["dog", "cat"], **SMALL)
    assert dm.label_type == "exclusive"
    dm.setup("fit")
    # The default fractions 0.8, 0.1, 0.1: dog 16/2/2, cat 8/1/1; val_split defaults to test.
    assert len(dm.train_dataset) == 24 and len(dm.val_dataset) == 3
    for loader, train in ((dm.train_dataloader(), True), (dm.val_dataloader(), False)):
        for batch in loader:
            assert batch["image"].shape[1:] == (3, 8, 8)
            # Training targets: labels of the split, drawn for each image (GANimation's targets).
            assert ("target_label" in batch) == train
            assert not train or set(batch["target_label"].tolist()) <= {0, 1}
            for path, label in zip(batch["path"], batch["label"].tolist()):
                assert Path(path).parent.name == ("dog", "cat")[label]


def test_splits_are_disjoint_stable_and_change_with_the_seed(tmp_path, write_rgb_file):
    _write_class(tmp_path, "cat", 20, write_rgb_file)
    _write_class(tmp_path, "dog", 30, write_rgb_file)
    domains = ["cat", "dog"]
    splits = _splits(tmp_path, domains, split_fractions=[0.6, 0.2, 0.2], split_seed=7)
    for label, count in ((0, 20), (1, 30)):
        parts = [splits[key][label] for key in ("train", "val", "test")]
        assert [len(part) for part in parts] == [count * 3 // 5, count // 5, count // 5]
        assert set.union(*parts) == {f"{i:03d}.png" for i in range(count)}
    assert _splits(tmp_path, domains, split_fractions=[0.6, 0.2, 0.2], split_seed=7) == splits
    assert _splits(tmp_path, domains, split_fractions=[0.6, 0.2, 0.2], split_seed=8) != splits

    _write_class(tmp_path, "dog", 12, write_rgb_file, start=30)  # files added to another class
    grown = _splits(tmp_path, domains, split_fractions=[0.6, 0.2, 0.2], split_seed=7)
    assert all(grown[key][0] == splits[key][0] for key in ("train", "val", "test"))
    assert sum(len(grown[key][1]) for key in ("train", "val", "test")) == 42


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(split_fractions=[0.8, 0.1]), r"data\.split_fractions=\[0\.8, 0\.1\] must be three"),
        (dict(split_fractions=[0.8, 0.3, -0.1]), r"data\.split_fractions=.* must be three non-negative fractions"),
        (dict(split_fractions=[0.8, 0.1, 0.2]), r"summing to 1"),
        (dict(split_fractions=[0.0, 0.5, 0.5]), r"train's positive"),
        (dict(split_seed=-1), r"data\.split_seed=-1 must be non-negative"),
        (dict(val_split="valid"), r"data\.val_split='valid': class_folders' splits are train, val and test"),
        (dict(aligned_evaluation=True), r"aligned_evaluation applies to the folders layout"),
        (dict(root="demo:tints"), r"demo datasets come in the folders"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        MultiDomainDataModule(**{"root": "x", "layout": "class_folders", "domains": ["a"], **options})


def test_split_fractions_belong_to_the_class_folders_layout():
    with pytest.raises(ValueError, match=r"data\.split_fractions applies to the class_folders layout, not folders"):
        MultiDomainDataModule("x", domains=["a"], split_fractions=[0.8, 0.1, 0.1])


def test_a_class_folder_without_images_or_missing_is_named(tmp_path, write_rgb_file):
    _write_class(tmp_path, "cat", 5, write_rgb_file)
    (tmp_path / "dog").mkdir()
    dm = MultiDomainDataModule(str(tmp_path), layout="class_folders", domains=["cat", "dog"], **SMALL)
    with pytest.raises(ValueError, match=r"no images in .*dog"):
        dm.setup("fit")
    dm = MultiDomainDataModule(str(tmp_path), layout="class_folders", domains=["cat", "cow"], **SMALL)
    with pytest.raises(FileNotFoundError, match=r"cow.* does not exist: data\.domains names 'cow'; the domain folders in .* are \['cat', 'dog'\]"):
        dm.setup("fit")


def test_a_split_given_no_images_is_an_error_naming_the_fractions(tmp_path, write_rgb_file):
    _write_class(tmp_path, "cat", 5, write_rgb_file)
    dm = MultiDomainDataModule(
        str(tmp_path), layout="class_folders", domains=["cat"], split_fractions=[0.8, 0.2, 0.0], **SMALL
    )
    with pytest.raises(ValueError, match=r"data\.split_fractions=\[0\.8, 0\.2, 0\.0\] gives the test split no images"):
        dm.setup("fit")
