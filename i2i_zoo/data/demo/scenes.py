"""Procedural ``shapes`` scenes: random shapes on a background as label maps, rendered as
textured, lit photos; and the datasets made from them (shapes, recolor, palettes, tints,
levels).

Each generator takes ``(rng, n)`` and returns ``n`` of each of its arrays. The draws from
``rng`` happen in a fixed order: reordering them changes the datasets (bump ``VERSION``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.color import hsv2rgb, rgb2hsv

from i2i_zoo.data.demo.truth import BRIGHTNESS_RANGE, LUMA, TINT_STRENGTH
from i2i_zoo.data.palette import Palette

IMAGE_SIZE = 64

Array = np.ndarray


# ---------------------------------------------------------------------------------------------
# shapes: label maps -> textured, lit renderings


class _Class(NamedTuple):
    name: str  # the class's name in SHAPES_PALETTE
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
    _Class("background", (0, 0, 140), (0.72, 0.74, 0.78), _clouds, 0.12),
    _Class("stripes", (0, 90, 255), (0.80, 0.62, 0.18), _stripes, 0.35),
    _Class("checker", (0, 230, 230), (0.22, 0.42, 0.78), _checker, 0.30),
    _Class("bricks", (120, 255, 120), (0.68, 0.26, 0.18), _bricks, 0.40),
    _Class("speckle", (255, 230, 0), (0.30, 0.58, 0.22), _speckle, 0.35),
    _Class("bands", (255, 110, 0), (0.58, 0.30, 0.64), _bands, 0.35),
    _Class("rings", (170, 0, 0), (0.12, 0.56, 0.54), _rings, 0.35),
)

# The label maps' classes (A of `shapes`), for scoring translations onto them.
SHAPES_PALETTE = Palette(names=tuple(c.name for c in _CLASSES), colours=tuple(c.label for c in _CLASSES))


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
    return to_uint8(photo)


def shapes(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Label maps (A) and rendered photos (B), both ``(n, H, W, 3)`` uint8."""
    labels, heights = _scene(rng, n)
    colours = np.array([c.colour for c in _CLASSES], np.float32)
    palette = np.array(SHAPES_PALETTE.colours, np.uint8)
    return palette[labels], _render(rng, labels, heights, colours[labels])


def to_uint8(image: Array) -> Array:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# recolor: the shapes photos and the same photos with their colour channels rotated


def recolor(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Photos (A) and the same photos with channels (R, G, B) -> (G, B, R) (B), ``(n, H, W, 3)``.

    The true mapping is a fixed per-pixel colour transform, the simplest one between the two
    distributions, so what an unpaired method learns can be scored against the hidden pairs."""
    _, photos = shapes(rng, n)
    return photos, np.ascontiguousarray(photos[..., [1, 2, 0]])


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


def palette_scenes(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array, Array, Array]:
    """Source label maps and heights, the warps, and the warped label maps and heights."""
    labels, heights = _scene(rng, n)
    warps = _random_warps(rng, n)
    return labels, heights, warps, *_warp_scenes(labels, heights, warps)


def palettes(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array]:
    """Sources and references ``(n, H, W, 3)`` uint8 and the warps ``(n, 2, 3)`` that moved each
    reference's scene from its source's pixel coordinates to its own."""
    labels, heights, warps, reference_labels, reference_heights = palette_scenes(rng, n)
    hue_palettes = _hue_rotated_palettes(rng, n)
    standard = np.array([c.colour for c in _CLASSES], np.float32)
    sources = _render(rng, labels, heights, standard[labels])
    image = np.arange(n)[:, None, None]
    reference_colours = hue_palettes[image, reference_labels]
    references = _render(rng, reference_labels, reference_heights, reference_colours)
    return sources, references, warps


# ---------------------------------------------------------------------------------------------
# tints and levels: shapes photos with a known factor (see truth.py for its measure)


def apply_tint(photo: Array, rgb: tuple[float, float, float]) -> Array:
    """The uint8 ``photo`` tinted with ``rgb`` (see the package docs), as uint8."""
    photo = photo.astype(np.float32) / 255
    tint, luma = np.array(rgb, np.float32), np.array(LUMA, np.float32)
    gray = photo @ luma
    return to_uint8((1 - TINT_STRENGTH) * photo + TINT_STRENGTH * gray[..., None] * tint / (tint @ luma))


def tints(rng: np.random.Generator, n: int) -> tuple[Array]:
    """Untinted shapes photos ``(n, H, W, 3)`` uint8; the writer tints them."""
    return (shapes(rng, n)[1],)


def levels(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Darkened photos ``(n, H, W, 3)`` uint8 and their brightness ``(n,)``, 4 decimals."""
    _, photos = shapes(rng, n)
    brightness = np.round(rng.uniform(*BRIGHTNESS_RANGE, n), 4)
    return to_uint8(photos / 255 * brightness[:, None, None, None]), brightness
