"""Crops of the photographs that ship with scikit-image: the ``edges2photos`` and ``photos``
demos (real textures, no download)."""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data
from skimage.color import rgb2gray
from skimage.feature import canny

from i2i_zoo.data.demo.scenes import IMAGE_SIZE, Array

# super_resolution (photos): 128 px leaves room for SRGAN's random 96 px HR patches.
SR_IMAGE_SIZE = 128

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


def edges2photos(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """Edge maps (A, ``(n, H, W)`` uint8) and photo crops (B, ``(n, H, W, 3)`` uint8)."""
    photos = _load_photos()
    crops = np.stack([_random_crop(rng, photos[rng.integers(len(photos))]) for _ in range(n)])
    edges = np.stack(
        [canny(rgb2gray(c), sigma=1.0, low_threshold=0.05, high_threshold=0.12) for c in crops]
    )
    return np.where(edges, 0, 255).astype(np.uint8), crops


def hr_crops(rng: np.random.Generator, n: int) -> tuple[Array]:
    """HR crops ``(n, SR_IMAGE_SIZE, SR_IMAGE_SIZE, 3)`` uint8, sides divisible by every scale."""
    photos = _load_photos()
    crops = [_random_crop(rng, photos[rng.integers(len(photos))], SR_IMAGE_SIZE) for _ in range(n)]
    return (np.stack(crops),)
