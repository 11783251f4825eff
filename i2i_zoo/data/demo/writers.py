"""One writer per folder layout: each takes the generated arrays by split and writes them in
the layout of the original implementations (see the package docs), as 8-bit PNGs."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from i2i_zoo.data.degradations import DEGRADATIONS
from i2i_zoo.data.demo.scenes import Array, apply_tint, to_uint8
from i2i_zoo.data.demo.truth import TINTS

# super_resolution: DIV2K's LR scales (its X3 does not divide the 128 px HR crops).
SR_SCALES = (2, 4)


def write_paired(splits: dict[str, tuple[Array, Array]], folder: Path) -> None:
    for split, (a, b) in splits.items():
        (folder / split).mkdir()
        if a.ndim == 3:  # gray A maps: an AB file has one channel count, so make them RGB
            a = np.repeat(a[..., None], 3, axis=-1)
        for i, ab in enumerate(np.concatenate([a, b], axis=2)):
            _imwrite(folder / split / _file_name(i), ab)


def write_unpaired(
    splits: dict[str, tuple[Array, Array]], folder: Path, rng: np.random.Generator
) -> None:
    rows = []
    for split, (a, b) in splits.items():
        (folder / f"{split}A").mkdir()
        (folder / f"{split}B").mkdir()
        permutation = rng.permutation(len(a))
        for i, j in enumerate(permutation):
            a_path, b_path = f"{split}A/{_file_name(i)}", f"{split}B/{_file_name(j)}"
            _imwrite(folder / a_path, a[i])
            _imwrite(folder / b_path, b[i])
            rows.append((split, a_path, b_path))
    with open(folder / "pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("split", "A", "B"))
        writer.writerows(rows)


def write_super_resolution(splits: dict[str, tuple[Array]], folder: Path) -> None:
    number = 0  # DIV2K numbers its images across splits
    for split, (hr,) in splits.items():
        hr_folder = folder / f"DIV2K_{split}_HR"
        lr_folders = {s: folder / f"DIV2K_{split}_LR_bicubic" / f"X{s}" for s in SR_SCALES}
        for path in (hr_folder, *lr_folders.values()):
            path.mkdir(parents=True)
        for image in hr:
            number += 1
            _imwrite(hr_folder / f"{number:04d}.png", image)
            for scale, lr_folder in lr_folders.items():
                _imwrite(lr_folder / f"{number:04d}x{scale}.png", _bicubic_downscale(image, scale))


def _bicubic_downscale(hr: Array, scale: int) -> Array:
    """The LR image of a uint8 HR image, as the super-resolution datasets degrade HR on the fly."""
    return to_uint8(DEGRADATIONS["bicubic"](hr.astype(np.float32) / 255, scale))


def write_reference(splits: dict[str, tuple[Array, Array, Array]], folder: Path) -> None:
    rows = []
    for split, (sources, references, warps) in splits.items():
        for role in ("source", "reference"):
            (folder / split / role).mkdir(parents=True)
        for i, (source, reference, warp) in enumerate(zip(sources, references, warps)):
            source_path = f"{split}/source/{_file_name(i)}"
            reference_path = f"{split}/reference/{_file_name(i)}"
            _imwrite(folder / source_path, source)
            _imwrite(folder / reference_path, reference)
            # Each image's map to the canonical frame: the source's own, the reference's unwarp.
            rows.append((source_path, *np.eye(2, 3).ravel().tolist()))
            rows.append((reference_path, *cv2.invertAffineTransform(warp).ravel().tolist()))
    with open(folder / "warps.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "a11", "a12", "a13", "a21", "a22", "a23"))
        writer.writerows(rows)


def write_multi_domain(splits: dict[str, tuple[Array]], folder: Path) -> None:
    for tint in TINTS:
        for split in splits:
            (folder / split / tint).mkdir(parents=True)
    names = list(TINTS)
    for i, photo in enumerate(splits["train"][0]):  # one tint per scene, in turn
        tint = names[i % len(names)]
        path = folder / "train" / tint / _file_name(i // len(names))
        _imwrite(path, apply_tint(photo, TINTS[tint]))
    for i, photo in enumerate(splits["test"][0]):  # every scene in every tint
        for tint, rgb in TINTS.items():
            _imwrite(folder / "test" / tint / _file_name(i), apply_tint(photo, rgb))


def write_conditions(splits: dict[str, tuple[Array, Array]], folder: Path) -> None:
    (folder / "images").mkdir()
    number = 0  # numbered across splits, so all share one folder
    for split, (images, brightness) in splits.items():
        rows = []
        for image, value in zip(images, brightness):
            path = f"images/{_file_name(number)}"
            number += 1
            _imwrite(folder / path, image)
            rows.append((path, f"{value:.4f}"))
        with open(folder / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("path", "brightness"))
            writer.writerows(rows)


def _file_name(index: int) -> str:
    return f"{index + 1:04d}.png"


def _imwrite(path: Path, image: Array) -> None:
    """Write an RGB or gray uint8 image as PNG."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
