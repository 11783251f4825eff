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
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import skimage.data
import torch
from scipy.ndimage import gaussian_filter
from skimage.color import hsv2rgb, rgb2gray, rgb2hsv
from skimage.feature import canny

from i2i_zoo.data.degradations import DEGRADATIONS

# Bump whenever a generator's output changes, so stale caches are not reused. A new dataset or
# layout needs no bump: its folder name is new.
VERSION = 1
LAYOUTS = ("paired", "unpaired", "super_resolution", "reference", "multi_domain", "conditions")
IMAGE_SIZE = 64
SPLIT_SIZES = {"train": 400, "val": 40, "test": 40}
# super_resolution (photos): DIV2K's split names and LR scales (its X3 does not divide 128).
SR_IMAGE_SIZE = 128
SR_SCALES = (2, 4)
SR_SPLIT_SIZES = {"train": 200, "valid": 20}
# multi_domain (tints) and conditions (levels): scenes per split.
DOMAIN_SPLIT_SIZES = {"train": 400, "test": 40}

Array = np.ndarray


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
        _write_paired(splits, folder)
    elif layout == "unpaired":
        train_test = {s: splits[s] for s in ("train", "test")}
        _write_unpaired(train_test, folder, np.random.default_rng(permutation_seed))
    elif layout == "super_resolution":
        _write_super_resolution(splits, folder)
    elif layout == "reference":
        _write_reference(splits, folder)
    elif layout == "multi_domain":
        _write_multi_domain(splits, folder)
    else:
        _write_conditions(splits, folder)


def _write_paired(splits: dict[str, tuple[Array, Array]], folder: Path) -> None:
    for split, (a, b) in splits.items():
        (folder / split).mkdir()
        if a.ndim == 3:  # gray A maps: an AB file has one channel count, so make them RGB
            a = np.repeat(a[..., None], 3, axis=-1)
        for i, ab in enumerate(np.concatenate([a, b], axis=2)):
            _imwrite(folder / split / _file_name(i), ab)


def _write_unpaired(
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


def _write_super_resolution(splits: dict[str, tuple[Array]], folder: Path) -> None:
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
    return _to_uint8(DEGRADATIONS["bicubic"](hr.astype(np.float32) / 255, scale))


def _write_reference(splits: dict[str, tuple[Array, Array, Array]], folder: Path) -> None:
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


def _write_multi_domain(splits: dict[str, tuple[Array]], folder: Path) -> None:
    for tint in TINTS:
        for split in splits:
            (folder / split / tint).mkdir(parents=True)
    names = list(TINTS)
    for i, photo in enumerate(splits["train"][0]):  # one tint per scene, in turn
        tint = names[i % len(names)]
        _imwrite(folder / "train" / tint / _file_name(i // len(names)), _tint(photo, TINTS[tint]))
    for i, photo in enumerate(splits["test"][0]):  # every scene in every tint
        for tint, rgb in TINTS.items():
            _imwrite(folder / "test" / tint / _file_name(i), _tint(photo, rgb))


def _write_conditions(splits: dict[str, tuple[Array, Array]], folder: Path) -> None:
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


# ---------------------------------------------------------------------------------------------
# shapes: label maps -> textured, lit renderings


class _Class(NamedTuple):
    label: tuple[int, int, int]  # flat colour in the label map (A)
    colour: tuple[float, float, float]  # base colour in the photo (B)
    texture: Callable[[np.random.Generator, int], Array]  # (rng, n) -> n patterns in [-1, 1]
    amplitude: float


def _grid() -> tuple[Array, Array]:
    """Pixel coordinates ``y, x`` broadcastable against per-image ``(n, 1, 1)`` parameters."""
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    return y, x


def _per_image(rng: np.random.Generator, n: int, low: float, high: float) -> Array:
    return rng.uniform(low, high, (n, 1, 1)).astype(np.float32)


def _clouds(rng: np.random.Generator, n: int) -> Array:
    field = gaussian_filter(rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE), np.float32), (0, 4, 4))
    return np.clip(field / (field.std() * 2.5), -1, 1)


def _stripes(rng: np.random.Generator, n: int) -> Array:
    y, x = _grid()
    angle, phase = _per_image(rng, n, 0.5, 1.1), _per_image(rng, n, 0, 2 * np.pi)
    return np.tanh(3 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / 8 + phase))


def _checker(rng: np.random.Generator, n: int) -> Array:
    y, x = _grid()
    oy, ox = _per_image(rng, n, 0, 12), _per_image(rng, n, 0, 12)
    return ((np.floor((y + oy) / 6) + np.floor((x + ox) / 6)) % 2) * 2 - 1


def _bricks(rng: np.random.Generator, n: int) -> Array:
    y, x = _grid()
    oy, ox = _per_image(rng, n, 0, 8), _per_image(rng, n, 0, 16)
    row = np.floor((y + oy) / 8)
    mortar = ((y + oy) % 8 < 1.5) | ((x + ox + 8 * (row % 2)) % 16 < 1.5)
    return np.where(mortar, np.float32(-1), np.float32(0.4))


def _speckle(rng: np.random.Generator, n: int) -> Array:
    field = gaussian_filter(rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE), np.float32), (0, 1, 1))
    return np.clip(field / (field.std() * 2), -1, 1)


def _bands(rng: np.random.Generator, n: int) -> Array:
    y, x = _grid()
    angle, phase = _per_image(rng, n, 0, 2 * np.pi), _per_image(rng, n, 0, 2 * np.pi)
    return np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / 32 + phase)


def _rings(rng: np.random.Generator, n: int) -> Array:
    y, x = _grid()
    cy, cx = _per_image(rng, n, 0, IMAGE_SIZE), _per_image(rng, n, 0, IMAGE_SIZE)
    return np.sin(2 * np.pi * np.hypot(y - cy, x - cx) / 6 + _per_image(rng, n, 0, 2 * np.pi))


# Index 0 is the background; every image holds 3-6 shapes of the other classes.
_CLASSES = (
    _Class((0, 0, 140), (0.72, 0.74, 0.78), _clouds, 0.12),
    _Class((0, 90, 255), (0.80, 0.62, 0.18), _stripes, 0.35),
    _Class((0, 230, 230), (0.22, 0.42, 0.78), _checker, 0.30),
    _Class((120, 255, 120), (0.68, 0.26, 0.18), _bricks, 0.40),
    _Class((255, 230, 0), (0.30, 0.58, 0.22), _speckle, 0.35),
    _Class((255, 110, 0), (0.58, 0.30, 0.64), _bands, 0.35),
    _Class((170, 0, 0), (0.12, 0.56, 0.54), _rings, 0.35),
)


def _shape_masks(rng: np.random.Generator, n: int) -> Array:
    """One random rectangle, ellipse or triangle per image: ``(n, H, W)`` bool."""
    y, x = _grid()
    cy, cx = _per_image(rng, n, 6, IMAGE_SIZE - 6), _per_image(rng, n, 6, IMAGE_SIZE - 6)
    ha, hb = _per_image(rng, n, 6, 16), _per_image(rng, n, 6, 16)
    angle = _per_image(rng, n, 0, np.pi)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = (y - cy) * np.cos(angle) - (x - cx) * np.sin(angle)
    rectangle = (np.abs(u) <= ha) & (np.abs(v) <= hb)
    ellipse = (u / ha) ** 2 + (v / hb) ** 2 <= 1
    # A regular triangle: inside all three half-planes at distance ha/2 from its centre.
    normals = (np.pi / 2 + 2 * np.pi * np.arange(3) / 3).astype(np.float32)
    triangle = np.all([u * np.cos(t) + v * np.sin(t) <= ha / 2 for t in normals], axis=0)
    kind = rng.integers(0, 3, (n, 1, 1))
    return np.where(kind == 0, rectangle, np.where(kind == 1, ellipse, triangle))


def _scene(rng: np.random.Generator, n: int, max_shapes: int = 6) -> tuple[Array, Array]:
    """Label maps ``(n, H, W)`` and stacking heights (how many shapes cover each pixel)."""
    labels = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), np.int64)
    heights = np.zeros(labels.shape, np.float32)
    count = rng.integers(3, max_shapes + 1, (n, 1, 1))
    for slot in range(max_shapes):
        mask = _shape_masks(rng, n) & (slot < count)
        labels = np.where(mask, rng.integers(1, len(_CLASSES), (n, 1, 1)), labels)
        heights += mask
    return labels, heights


def _lighting(rng: np.random.Generator, heights: Array) -> Array:
    """Multiplicative shading: a global gradient toward the light plus bevels on shape edges."""
    y, x = _grid()
    angle = _per_image(rng, len(heights), 0, 2 * np.pi)
    gy, gx = np.gradient(gaussian_filter(heights, (0, 1.5, 1.5)), axis=(1, 2))
    centre, half = (IMAGE_SIZE - 1) / 2, IMAGE_SIZE / 2
    towards = ((x - centre) * np.cos(angle) + (y - centre) * np.sin(angle)) / half
    facing = -(gx * np.cos(angle) + gy * np.sin(angle))  # edges whose slope faces the light
    return 1 + 0.15 * towards + 1.2 * facing


def _render(rng: np.random.Generator, labels: Array, heights: Array, colours: Array) -> Array:
    """Photos ``(n, H, W, 3)`` uint8 of label maps: each pixel's base colour ``colours``
    ``(n, H, W, 3)`` times its class's texture and the lighting, plus a little noise."""
    pattern = np.zeros(labels.shape, np.float32)
    for index, cls in enumerate(_CLASSES):
        pattern = np.where(labels == index, cls.amplitude * cls.texture(rng, len(labels)), pattern)
    photo = colours * ((1 + pattern) * _lighting(rng, heights))[..., None]
    photo += 0.015 * rng.standard_normal(photo.shape, np.float32)
    return _to_uint8(photo)


def _shapes(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Label maps (A) and rendered photos (B), both ``(n, H, W, 3)`` uint8."""
    labels, heights = _scene(rng, n)
    colours = np.array([c.colour for c in _CLASSES], np.float32)
    palette = np.array([c.label for c in _CLASSES], np.uint8)
    return palette[labels], _render(rng, labels, heights, colours[labels])


def _to_uint8(image: Array) -> Array:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# edges2photos: crops of the scikit-image sample photographs and their edge maps

# CC0 RGB photographs that ship inside scikit-image (no download needed).
_PHOTOS = (
    "astronaut", "coffee", "chelsea", "cat", "rocket", "hubble_deep_field",
    "immunohistochemistry", "stereo_motorcycle",
)  # fmt: skip


def _load_photos() -> list[Array]:
    """The photographs, all of them: the cache key does not record which loaded, so a missing one
    is an error rather than a silently different dataset."""
    photos = []
    for name in _PHOTOS:
        try:
            image = getattr(skimage.data, name)()
        except Exception as error:  # a loader may need an optional package or a download
            raise RuntimeError(
                f"scikit-image photograph {name!r} could not be loaded ({error}); the edges2photos "
                "and photos demos need scikit-image's bundled photographs "
                "(pip install 'scikit-image>=0.22')"
            ) from error
        if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
            image = image[0]
        photos.append(image)
    return photos


def _random_crop(rng: np.random.Generator, photo: Array, size: int = IMAGE_SIZE) -> Array:
    """A square crop of random scale and position, flipped at random, resized to ``size``."""
    height, width = photo.shape[:2]
    side = max(size, int(rng.uniform(0.25, 0.75) * min(height, width)))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = photo[top : top + side, left : left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.ascontiguousarray(crop)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _edges2photos(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Edge maps (A, ``(n, H, W)`` uint8) and photo crops (B, ``(n, H, W, 3)`` uint8)."""
    photos = _load_photos()
    crops = np.stack([_random_crop(rng, photos[rng.integers(len(photos))]) for _ in range(n)])
    edges = np.stack(
        [canny(rgb2gray(c), sigma=1.0, low_threshold=0.05, high_threshold=0.12) for c in crops]
    )
    return np.where(edges, 0, 255).astype(np.uint8), crops


# ---------------------------------------------------------------------------------------------
# recolor: the shapes photos and the same photos with their colour channels rotated


def _recolor(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Photos (A) and the same photos with channels (R, G, B) -> (G, B, R) (B), ``(n, H, W, 3)``.

    The true mapping is a fixed per-pixel colour transform, the simplest one between the two
    distributions, so what an unpaired method learns can be scored against the hidden pairs."""
    _, photos = _shapes(rng, n)
    return photos, np.ascontiguousarray(photos[..., [1, 2, 0]])


# ---------------------------------------------------------------------------------------------
# photos: HR crops of the photographs for super-resolution (LR images are made when written)


def _photos(rng: np.random.Generator, n: int) -> tuple[Array]:
    """HR crops ``(n, SR_IMAGE_SIZE, SR_IMAGE_SIZE, 3)`` uint8, sides divisible by every scale."""
    photos = _load_photos()
    crops = [_random_crop(rng, photos[rng.integers(len(photos))], SR_IMAGE_SIZE) for _ in range(n)]
    return (np.stack(crops),)


# ---------------------------------------------------------------------------------------------
# palettes: one shapes scene as source (standard colours) and as a warped, recoloured reference


def _random_warps(rng: np.random.Generator, n: int) -> Array:
    """Similarity warps ``(n, 2, 3)`` about the image centre, from canonical to warped pixels."""
    angles, scales = rng.uniform(-10, 10, n), rng.uniform(0.9, 1.1, n)
    shifts = rng.uniform(-4, 4, (n, 2))
    centre = ((IMAGE_SIZE - 1) / 2, (IMAGE_SIZE - 1) / 2)
    warps = np.stack([cv2.getRotationMatrix2D(centre, a, s) for a, s in zip(angles, scales)])
    warps[:, :, 2] += shifts
    return warps


def _warp_scenes(labels: Array, heights: Array, warps: Array) -> tuple[Array, Array]:
    """Label maps and heights moved by ``warps``; uncovered corners become background."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    warped_labels = np.stack([
        cv2.warpAffine(label.astype(np.uint8), warp, size, flags=cv2.INTER_NEAREST, borderValue=0)
        for label, warp in zip(labels, warps)
    ]).astype(labels.dtype)  # fmt: skip
    warped_heights = np.stack(
        [cv2.warpAffine(h, warp, size, borderValue=0) for h, warp in zip(heights, warps)]
    )
    return warped_labels, warped_heights


def _hue_rotated_palettes(rng: np.random.Generator, n: int) -> Array:
    """Per image, the class colours ``(n, classes, 3)`` with each hue turned by 60-300 degrees."""
    hsv = np.repeat(rgb2hsv(np.array([[c.colour for c in _CLASSES]], np.float32)), n, axis=0)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(60, 300, hsv.shape[:2]) / 360) % 1
    return hsv2rgb(hsv).astype(np.float32)


def _palette_scenes(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array, Array, Array]:
    """Source label maps and heights, the warps, and the warped label maps and heights."""
    labels, heights = _scene(rng, n)
    warps = _random_warps(rng, n)
    return labels, heights, warps, *_warp_scenes(labels, heights, warps)


def _palettes(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array]:
    """Sources and references ``(n, H, W, 3)`` uint8 and the warps ``(n, 2, 3)`` that moved each
    reference's scene from its source's pixel coordinates to its own."""
    labels, heights, warps, reference_labels, reference_heights = _palette_scenes(rng, n)
    palettes = _hue_rotated_palettes(rng, n)
    standard = np.array([c.colour for c in _CLASSES], np.float32)
    sources = _render(rng, labels, heights, standard[labels])
    image = np.arange(n)[:, None, None]
    reference_colours = palettes[image, reference_labels]
    references = _render(rng, reference_labels, reference_heights, reference_colours)
    return sources, references, warps


# ---------------------------------------------------------------------------------------------
# tints: shapes photos in one of four colour tints (domains), and a measure of each tint

# Domain name -> tint colour (RGB in [0, 1]), in the order of the domain indices.
TINTS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.25, 0.25),
    "green": (0.25, 0.85, 0.25),
    "blue": (0.25, 0.45, 1.0),
    "yellow": (0.95, 0.85, 0.2),
}
TINT_STRENGTH = 0.6
LUMA = (0.299, 0.587, 0.114)  # Rec. 601


def _tint(photo: Array, rgb: tuple[float, float, float]) -> Array:
    """The uint8 ``photo`` tinted with ``rgb`` (see the module docs), as uint8."""
    photo = photo.astype(np.float32) / 255
    tint, luma = np.array(rgb, np.float32), np.array(LUMA, np.float32)
    gray = photo @ luma
    return _to_uint8((1 - TINT_STRENGTH) * photo + TINT_STRENGTH * gray[..., None] * tint / (tint @ luma))


def _tints(rng: np.random.Generator, n: int) -> tuple[Array]:
    """Untinted shapes photos ``(n, H, W, 3)`` uint8; the writer tints them."""
    return (_shapes(rng, n)[1],)


def _check_images(images: torch.Tensor, name: str) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} takes RGB images (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")


def tint_scores(images: torch.Tensor) -> torch.Tensor:
    """How strongly each image ``(N, 3, H, W)`` in [-1, 1] shows each tint of :data:`TINTS`:
    ``(N, len(TINTS))``, the image's mean colour minus its gray (the channel mean) projected on
    each tint's colour minus its gray, normalised to length 1.

    The argmax recovers the tint of every ``tints`` image of the default seed (the 400 train
    and 160 test images, also after area downscaling to 32 px); a gray image scores 0 for
    every tint."""
    _check_images(images, "tint_scores")
    mean = (images.float().mean((2, 3)) + 1) / 2
    tints = torch.tensor(list(TINTS.values()), device=images.device)
    tints = tints - tints.mean(1, keepdim=True)
    directions = tints / tints.norm(dim=1, keepdim=True)
    return (mean - mean.mean(1, keepdim=True)) @ directions.T


# ---------------------------------------------------------------------------------------------
# levels: shapes photos darkened by a known brightness (a continuous condition), and its measure

BRIGHTNESS_RANGE = (0.2, 1.0)
# The 90th percentile of the luma of the unscaled shapes photos, averaged over the 440 the
# levels dataset is made from (it varies by about 2.5% from photo to photo).
BRIGHTNESS_REFERENCE = 0.840
BRIGHTNESS_QUANTILE = 0.9


def _levels(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Darkened photos ``(n, H, W, 3)`` uint8 and their brightness ``(n,)``, 4 decimals."""
    _, photos = _shapes(rng, n)
    brightness = np.round(rng.uniform(*BRIGHTNESS_RANGE, n), 4)
    return _to_uint8(photos / 255 * brightness[:, None, None, None]), brightness


def brightness_of(images: torch.Tensor) -> torch.Tensor:
    """Estimate the ``levels`` brightness of images ``(N, 3, H, W)`` in [-1, 1]: the 90th
    percentile of their luma (Rec. 601) in [0, 1], divided by that of an unscaled photo
    (:data:`BRIGHTNESS_REFERENCE`). ``(N,)``.

    On the 440 ``levels`` images of the default seed (brightness 0.2-1.0) the absolute error
    is 0.012 on average (2% of the brightness) and at most 0.062; after area downscaling to
    32 px, 0.011 and 0.070."""
    _check_images(images, "brightness_of")
    luma = torch.tensor(LUMA, device=images.device)
    gray = torch.einsum("nchw,c->nhw", (images.float() + 1) / 2, luma)
    return torch.quantile(gray.flatten(1), BRIGHTNESS_QUANTILE, dim=1) / BRIGHTNESS_REFERENCE


class _Dataset(NamedTuple):
    generate: Callable[[np.random.Generator, int], tuple[Array, ...]]  # (rng, n) -> n of each
    layouts: tuple[str, ...]  # those its content fits


_DATASETS = {
    "shapes": _Dataset(_shapes, ("paired", "unpaired")),
    "edges2photos": _Dataset(_edges2photos, ("paired", "unpaired")),
    "recolor": _Dataset(_recolor, ("paired", "unpaired")),
    "photos": _Dataset(_photos, ("super_resolution",)),
    "palettes": _Dataset(_palettes, ("reference",)),
    "tints": _Dataset(_tints, ("multi_domain",)),
    "levels": _Dataset(_levels, ("conditions",)),
}
DATASET_LAYOUTS = {name: dataset.layouts for name, dataset in _DATASETS.items()}
DEMO_DATASETS = tuple(_DATASETS)
