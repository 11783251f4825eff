"""HR -> LR degradations for super-resolution, over float HWC arrays in [0, 1].

Every function in :data:`DEGRADATIONS` is called as ``degrade(hr, scale, rng)`` (plus its own
keyword settings, bound by :func:`make_degradation`) and returns an image ``scale`` times smaller.
``hr``'s sides must be multiples of ``scale`` (see :func:`modcrop`). Randomness comes from
``rng`` only, so a dataset that seeds it from its torch generator keeps the data stream
reproducible; the deterministic degradations ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import cv2
import numpy as np
from scipy import ndimage

Array = np.ndarray
Degradation = Callable[[Array, int, np.random.Generator], Array]


def modcrop(image: Array, scale: int) -> Array:
    """Crop the bottom and right edges of ``image`` so its sides are multiples of ``scale``."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def _keys_cubic(x: Array) -> Array:
    # Keys' cubic convolution kernel with a = -0.5, MATLAB's and PIL's "bicubic".
    x = np.abs(x)
    near = 1.5 * x**3 - 2.5 * x**2 + 1
    far = -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _downscale_axis(image: Array, scale: int, axis: int) -> Array:
    # Output pixel j is centred on input coordinate scale*j + (scale-1)/2; the kernel is
    # stretched by scale (antialiasing) and the image mirrored at its edges, as MATLAB does.
    centre = (scale - 1) / 2
    taps = np.arange(int(np.ceil(centre - 2 * scale)), int(np.floor(centre + 2 * scale)) + 1)
    weights = _keys_cubic((centre - taps) / scale)
    weights /= weights.sum()
    pad = 2 * scale
    lines = np.moveaxis(image, axis, 0)
    padded = np.pad(lines, [(pad, pad)] + [(0, 0)] * (lines.ndim - 1), mode="symmetric")
    size = lines.shape[0] // scale
    out = sum(
        weight * padded[pad + tap : pad + tap + scale * size : scale]
        for tap, weight in zip(taps, weights.astype(image.dtype))
    )
    return np.moveaxis(out, 0, axis)


def _check_divisible(hr: Array, scale: int) -> None:
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(
            f"an HR image of {hr.shape[1]}x{hr.shape[0]} pixels cannot be downscaled by "
            f"{scale}: its sides must be multiples of the scale (crop it with modcrop)"
        )


def bicubic(hr: Array, scale: int, rng: np.random.Generator | None = None) -> Array:
    """MATLAB's ``imresize(hr, 1/scale, 'bicubic')`` (antialiased, mirrored edges), which made
    DIV2K's LR images, in float without the 8-bit rounding. ``rng`` is unused."""
    _check_divisible(hr, scale)
    lr = _downscale_axis(_downscale_axis(hr.astype(np.float32), scale, 0), scale, 1)
    return np.clip(lr, 0.0, 1.0)


def gaussian_blur(image: Array, sigma: float) -> Array:
    """Blur with a Gaussian of ``sigma`` pixels, truncated at 3 sigma, edges replicated."""
    size = 2 * int(np.ceil(3 * sigma)) + 1
    blurred = cv2.GaussianBlur(image, (size, size), sigma, borderType=cv2.BORDER_REPLICATE)
    return blurred.reshape(image.shape)


def blur_bicubic(
    hr: Array, scale: int, rng: np.random.Generator | None = None, sigma: float = 1.6
) -> Array:
    """The "BD" degradation (Zhang et al., RDN, 2018): Gaussian blur of ``sigma`` HR pixels,
    then :func:`bicubic`. RDN truncates the kernel at 7x7; this one at 3 sigma (11x11 for 1.6).
    ``rng`` is unused."""
    return bicubic(gaussian_blur(hr, sigma), scale)


def noisy_bicubic(
    hr: Array, scale: int, rng: np.random.Generator, sigma: float = 10.0
) -> Array:
    """:func:`bicubic`, then additive white Gaussian noise of ``sigma`` in 8-bit units (the "DN"
    degradation of RDN), independent per pixel and channel, clipped to [0, 1]."""
    lr = bicubic(hr, scale)
    noise = rng.normal(0.0, sigma / 255.0, lr.shape).astype(np.float32)
    return np.clip(lr + noise, 0.0, 1.0)


def shift(image: Array, dx: float, dy: float) -> Array:
    """Move the content of ``image`` by ``dx`` pixels right and ``dy`` down: cubic spline
    interpolation, which, unlike OpenCV's cubic, keeps the centre of mass exactly where it
    moves to; mirrored edges."""
    moved = ndimage.shift(image, (dy, dx, 0), order=3, mode="reflect")
    return np.clip(moved, 0.0, 1.0)


def shifted_bicubic(
    hr: Array, scale: int, rng: np.random.Generator, max_shift: float = 0.5
) -> Array:
    """:func:`bicubic` of ``hr`` shifted by a sub-pixel amount: x and y shifts drawn uniformly
    from [-max_shift, max_shift] LR pixels (``scale`` times as many HR pixels), so the LR
    sampling grid is not always aligned with the HR one."""
    dx, dy = rng.uniform(-max_shift, max_shift, 2) * scale
    return bicubic(shift(hr, dx, dy), scale)


DEGRADATIONS: dict[str, Callable[..., Array]] = {
    "bicubic": bicubic,
    "blur_bicubic": blur_bicubic,
    "noise": noisy_bicubic,
    "shift": shifted_bicubic,
}
DEGRADATION_NAMES = tuple(DEGRADATIONS)
DegradationName = Literal[DEGRADATION_NAMES]


def make_degradation(
    name: str, blur_sigma: float = 1.6, noise_sigma: float = 10.0, max_shift: float = 0.5
) -> Degradation:
    """The :data:`DEGRADATIONS` function ``name`` with its setting (the ``data.*`` option of
    the same name) bound, called as ``degrade(hr, scale, rng)``."""
    if name not in DEGRADATIONS:
        raise ValueError(f"data.degradation={name!r} is unknown; use one of {tuple(DEGRADATIONS)}")
    if blur_sigma <= 0:
        raise ValueError(f"data.blur_sigma={blur_sigma} must be positive")
    if noise_sigma < 0 or max_shift < 0:
        raise ValueError(
            f"data.noise_sigma={noise_sigma} and data.max_shift={max_shift} must not be negative"
        )
    settings = {
        "blur_bicubic": {"sigma": blur_sigma},
        "noise": {"sigma": noise_sigma},
        "shift": {"max_shift": max_shift},
    }
    return partial(DEGRADATIONS[name], **settings.get(name, {}))
