"""Built-in demo datasets, generated from a seed and cached in the original folder layouts.

A root written ``"demo:<name>"`` (see :func:`resolve_root`) is generated once into
:func:`cache_dir` and then read by the normal datamodules, so a demo run exercises the real
file path with no download. Each dataset comes in the layouts its content fits
(:data:`DATASET_LAYOUTS`).

Two-domain datasets, in the ``paired`` and ``unpaired`` layouts (64x64 images; 400 train /
40 val / 40 test):

- ``shapes``: A is a semantic label map (a flat palette colour per class, like the facades
  labels), B a rendered "photo" of the same scene. The class decides colour and texture type;
  texture phase and light direction are random per image, so an L1-only model blurs them.
  :data:`SHAPES_PALETTE` names the classes and their label colours (RGB, class 0 the background).
- ``edges2photos``: B is a random crop of a CC0 photograph shipped with scikit-image, A its
  Canny edge map (black edges on white). Unpaired A files are 1-channel PNGs; the paired AB
  files are RGB with the edges copied into the three channels of the A half, which the
  datamodules read as gray with ``channels_A: 1`` (or as RGB with 3) in either layout.
- ``recolor``: A is a ``shapes`` photo, B the same photo with its colour channels rotated
  (R, G, B -> G, B, R): for unpaired methods, whose true mapping is the simplest one.

Their layouts: ``paired`` writes ``train/ val/ test/`` with side-by-side AB images (A left).
``unpaired`` writes ``trainA/ trainB/ testA/ testB/`` from the same pairs (its test split is
the paired test split; val is left out) with the B files renamed by a seeded permutation; the
hidden true pairs are in ``pairs.csv`` (columns ``split,A,B``), for evaluation only.

- ``photos``, layout ``super_resolution``: 128x128 HR crops of the same photographs (200 train,
  20 valid; no test split, as DIV2K publishes none) in the DIV2K layout:
  ``DIV2K_train_HR/0001.png``, ``DIV2K_train_LR_bicubic/X4/0001x4.png`` (and ``X2``), then
  ``DIV2K_valid_HR/0201.png`` ...: valid numbers continue after train's, as DIV2K's do. 128 px
  leaves room for SRGAN's random 96 px HR patches. LR is the ``bicubic`` degradation of
  :mod:`i2i_zoo.data.degradations` (MATLAB's antialiased ``imresize``, which made DIV2K's LR
  images) of the 8-bit HR image in [0, 1], rounded to 8 bits.
- ``palettes``, layout ``reference``: source/reference pairs for reference-based colour
  transfer (makeup-style). Both are renderings of one ``shapes`` scene: the source in the
  standard class colours, the reference moved by a random similarity warp (rotation +-10
  degrees, scale 0.9-1.1, shift +-4 px, as two photos of a face differ in pose) and rendered
  with every class's hue rotated by its own random 60-300 degrees (the near-gray background
  barely changes). Textures and light are drawn anew for each. The layout: ``train/ val/
  test/`` (400 / 40 / 40, 64x64), each with ``source/0001.png ...`` and ``reference/0001.png
  ...``, equal names being the true pairs, and ``warps.csv`` (columns
  ``path,a11,a12,a13,a21,a22,a23``, paths relative to the root) holding for every image the
  2x3 affine ``A`` that maps its pixel coordinates ``(x, y)`` (column, row of pixel centres, as
  OpenCV's) to the scene's canonical frame: ``(u, v) = (a11 x + a12 y + a13, a21 x + a22 y +
  a23)``. Sources are the canonical frame (identity); a reference's ``A`` is the inverse of the
  warp it was rendered with. So ``inverse(A_source) @ A_reference`` (as 3x3 matrices) maps
  reference to source pixels, and ``cv2.warpAffine(reference, that[:2], (64, 64))`` aligns a
  reference with its source.

Multi-domain datasets (64x64, 400 train / 40 test scenes; no val split, as StarGAN's datasets
have none), whose domain or condition is a known factor that :func:`tint_scores` and
:func:`brightness_of` measure on any image, so tests can check what a translation did:

- ``tints``, layout ``multi_domain`` (the ``folders`` layout of the multi-domain datamodule):
  ``shapes`` photos in one of the 4 colour tints :data:`TINTS`. ``train/<tint>/0001.png ...``
  holds 100 scenes per tint (scene ``i`` in tint ``i % 4``); ``test/<tint>/0001.png ...`` every
  one of the 40 test scenes in all 4 tints, equal names being one scene, so a translation has
  its true counterpart. A tint mixes each pixel with its gray level in the tint colour,
  keeping its luma: ``tinted = (1 - s) * photo + s * Y(photo) * tint / Y(tint)``, clipped to
  [0, 1], with ``s`` = :data:`TINT_STRENGTH` (0.6) and ``Y`` the Rec. 601 luma
  ``0.299 R + 0.587 G + 0.114 B`` (photos in [0, 1], then rounded to 8 bits).
- ``levels``, layout ``conditions`` (the ``csv`` layout): ``shapes`` photos darkened by a
  brightness ``b`` drawn uniformly from [0.2, 1.0] (written with 4 decimals) per image: the
  8-bit image is ``round(b * photo)`` of the 8-bit photo. ``images/0001.png ...`` (train
  0001-0400, test 0401-0440), ``train.csv`` and ``test.csv`` with columns ``path,brightness``
  (paths relative to the root).

What makes them: :mod:`~i2i_zoo.data.demo.scenes` (the procedural shapes scenes),
:mod:`~i2i_zoo.data.demo.photos` (the photograph crops), :mod:`~i2i_zoo.data.demo.writers` (one
writer per layout) and :mod:`~i2i_zoo.data.demo.truth` (the tints and brightnesses and their
measures).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from i2i_zoo.data.demo import photos, scenes, writers
from i2i_zoo.data.demo.photos import SR_IMAGE_SIZE
from i2i_zoo.data.demo.scenes import IMAGE_SIZE, SHAPES_PALETTE, Array
from i2i_zoo.data.demo.truth import (
    BRIGHTNESS_QUANTILE,
    BRIGHTNESS_RANGE,
    BRIGHTNESS_REFERENCE,
    LUMA,
    TINT_STRENGTH,
    TINTS,
    brightness_of,
    tint_scores,
)
from i2i_zoo.data.demo.writers import SR_SCALES

__all__ = [
    "BRIGHTNESS_QUANTILE",
    "BRIGHTNESS_RANGE",
    "BRIGHTNESS_REFERENCE",
    "DATASET_LAYOUTS",
    "DEMO_DATASETS",
    "DOMAIN_SPLIT_SIZES",
    "IMAGE_SIZE",
    "LAYOUTS",
    "LUMA",
    "SHAPES_PALETTE",
    "SPLIT_SIZES",
    "SR_IMAGE_SIZE",
    "SR_SCALES",
    "SR_SPLIT_SIZES",
    "TINTS",
    "TINT_STRENGTH",
    "VERSION",
    "brightness_of",
    "cache_dir",
    "ensure_demo",
    "resolve_root",
    "tint_scores",
]

# Bump whenever a generator's output changes, so stale caches are not reused. A new dataset or
# layout needs no bump: its folder name is new.
VERSION = 1
LAYOUTS = ("paired", "unpaired", "super_resolution", "reference", "multi_domain", "conditions")
SPLIT_SIZES = {"train": 400, "val": 40, "test": 40}
# super_resolution (photos): DIV2K's split names.
SR_SPLIT_SIZES = {"train": 200, "valid": 20}
# multi_domain (tints) and conditions (levels): scenes per split.
DOMAIN_SPLIT_SIZES = {"train": 400, "test": 40}


class _Dataset(NamedTuple):
    generate: Callable[[np.random.Generator, int], tuple[Array, ...]]  # (rng, n) -> n of each
    layouts: tuple[str, ...]  # those its content fits


_DATASETS = {
    "shapes": _Dataset(scenes.shapes, ("paired", "unpaired")),
    "edges2photos": _Dataset(photos.edges2photos, ("paired", "unpaired")),
    "recolor": _Dataset(scenes.recolor, ("paired", "unpaired")),
    "photos": _Dataset(photos.hr_crops, ("super_resolution",)),
    "palettes": _Dataset(scenes.palettes, ("reference",)),
    "tints": _Dataset(scenes.tints, ("multi_domain",)),
    "levels": _Dataset(scenes.levels, ("conditions",)),
}
DATASET_LAYOUTS = {name: dataset.layouts for name, dataset in _DATASETS.items()}
DEMO_DATASETS = tuple(_DATASETS)


def cache_dir() -> Path:
    """Folder holding the generated demo datasets."""
    if path := os.environ.get("I2I_ZOO_DEMO_DIR"):
        return Path(path).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "i2i_zoo" / "demo"
    return Path.home() / ".cache" / "i2i_zoo" / "demo"


def resolve_root(root: str | os.PathLike, layout: str) -> Path:
    """Turn ``"demo:<name>"`` into its generated folder; return any other root as a Path."""
    if isinstance(root, str) and root.startswith("demo:"):
        return ensure_demo(root.removeprefix("demo:"), layout)
    return Path(root).expanduser()


def ensure_demo(name: str, layout: str, seed: int = 0) -> Path:
    """Return the folder of demo dataset ``name`` in ``layout``, generating it if missing."""
    if name not in DEMO_DATASETS:
        raise ValueError(f"unknown demo dataset {name!r}; choose one of {DEMO_DATASETS}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown demo layout {layout!r}; choose one of {LAYOUTS}")
    if layout not in DATASET_LAYOUTS[name]:
        fitting = tuple(other for other, layouts in DATASET_LAYOUTS.items() if layout in layouts)
        raise ValueError(
            f"demo dataset {name!r} does not come in layout {layout!r}; its layouts are "
            f"{DATASET_LAYOUTS[name]}, and the demo datasets in {layout!r} are {fitting}"
        )
    # The default seed keeps the plain name; other seeds must not reuse its cache.
    suffix = f"-seed{seed}" if seed else ""
    target = cache_dir() / f"{name}-{layout}-v{VERSION}{suffix}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique sibling on the same filesystem, so the rename below is atomic.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.mkdir()
        _write(name, layout, seed, tmp)
        os.rename(tmp, target)
    except OSError:
        # Another process (xdist worker, DDP rank) renamed its identical copy first.
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write(name: str, layout: str, seed: int, folder: Path) -> None:
    """Generate dataset ``name`` from ``seed`` and write it into ``folder`` in ``layout``."""
    content_seed, permutation_seed = np.random.SeedSequence(seed).spawn(2)
    content_rng = np.random.default_rng(content_seed)
    sizes = {"super_resolution": SR_SPLIT_SIZES, "multi_domain": DOMAIN_SPLIT_SIZES,
             "conditions": DOMAIN_SPLIT_SIZES}.get(layout, SPLIT_SIZES)
    arrays = _DATASETS[name].generate(content_rng, sum(sizes.values()))
    splits, start = {}, 0
    for split, size in sizes.items():
        splits[split] = tuple(array[start : start + size] for array in arrays)
        start += size
    if layout == "paired":
        writers.write_paired(splits, folder)
    elif layout == "unpaired":
        train_test = {s: splits[s] for s in ("train", "test")}
        writers.write_unpaired(train_test, folder, np.random.default_rng(permutation_seed))
    elif layout == "super_resolution":
        writers.write_super_resolution(splits, folder)
    elif layout == "reference":
        writers.write_reference(splits, folder)
    elif layout == "multi_domain":
        writers.write_multi_domain(splits, folder)
    else:
        writers.write_conditions(splits, folder)
