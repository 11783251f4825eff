"""Reading and writing image files; the only place pixels cross the file boundary."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

# OpenCV's own thread pool does not survive fork: a DataLoader worker forked after the process
# used it can hang in its next resize. Data loading runs in parallel through the workers instead.
cv2.setNumThreads(0)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
)
WRITE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class ImageReadError(ValueError):
    """An image file could not be read, or does not have the expected shape."""


def require_folder(folder: str | os.PathLike, expected: str) -> Path:
    """Return ``folder`` as a Path, or raise FileNotFoundError saying what was ``expected``."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{folder} {what}: expected {expected}")
    return folder


def list_images(folder: str | os.PathLike, expected: str = "a folder of images") -> list[Path]:
    """Return the image files under ``folder`` (recursively), sorted.

    ``expected`` describes the folder in the error raised when it is missing.
    """
    folder = require_folder(folder, expected)
    paths = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    if not paths:
        accepted = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise ValueError(f"no images in {folder} (accepted extensions: {accepted})")
    return paths


def read_image(
    path: str | os.PathLike,
    channels: int | None = None,
    *,
    option: str | None = None,
    float_range: tuple[float, float] = (0.0, 1.0),
) -> np.ndarray:
    """Read an image file as a float32 HWC array in [0, 1] with 1 or 3 channels (RGB).

    8-bit images are divided by 255, 16-bit ones by 65535; floating-point ones (e.g. TIFF) map
    ``float_range`` (black, white) to [0, 1], and a value outside it or not finite raises
    :class:`ImageReadError` (``data.float_range`` is the datamodules' option). An alpha channel is
    dropped. With ``channels`` set, the image is converted where no information is lost (see
    :func:`match_channels`); ``option`` names the setting that changes ``channels``.
    """
    path = Path(path)
    black, white = check_float_range(float_range)
    try:
        # np.fromfile + imdecode, because cv2.imread cannot open non-ASCII paths on Windows.
        encoded = np.fromfile(path, dtype=np.uint8)
        if encoded.size == 0:  # OpenCV would fail on an assertion
            raise ImageReadError(f"cannot read image {path}: the file is empty (0 bytes)")
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as error:
        raise ImageReadError(f"cannot read image {path}: {error}") from error
    if image is None:
        raise ImageReadError(f"cannot read image {path}: not a valid or complete image file")
    image = _to_unit_float(image, path, black, white)
    if image.ndim == 2:
        image = image[:, :, None]
    image = _to_rgb(image, path)
    return image if channels is None else match_channels(image, channels, path, option)


def check_float_range(float_range: tuple[float, float]) -> tuple[float, float]:
    """Return ``float_range`` as (black, white) floats, or raise a ValueError naming it."""
    try:
        black, white = (float(value) for value in float_range)
    except (TypeError, ValueError):
        black = white = float("nan")
    if not (np.isfinite([black, white]).all() and black < white):
        raise ValueError(
            f"data.float_range={float_range!r} must be two finite numbers, black below white "
            "(the values of black and white in floating-point images)"
        )
    return black, white


def match_channels(image: np.ndarray, channels: int, path: Path, option: str | None = None) -> np.ndarray:
    """Give an HWC image ``channels`` channels where that loses nothing: gray becomes RGB by
    repetition (as the original code's ``convert('RGB')``), and RGB whose channels are all equal
    becomes gray. A colour image where gray is expected raises :class:`ImageReadError`."""
    found = image.shape[2]
    if found == channels:
        return image
    if found == 1:
        return np.repeat(image, channels, axis=2)
    if channels == 1 and np.array_equal(image[:, :, :1].repeat(found, axis=2), image):
        return np.ascontiguousarray(image[:, :, :1])
    hint = f"; set {option} to {found}" if option else ""
    raise ImageReadError(
        f"{path} has {found} colour channels, expected {channels}{hint} or convert the file to gray"
    )


def _to_unit_float(image: np.ndarray, path: Path, black: float, white: float) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return _float_to_unit(image, path, black, white)
    raise ImageReadError(f"{path} has unsupported pixel type {image.dtype}")


def _float_to_unit(image: np.ndarray, path: Path, black: float, white: float) -> np.ndarray:
    # A float file has no agreed scale: values are checked, never clipped, as clipping a 0..255
    # image makes it mostly white and a NaN would reach the losses.
    expected = f"data.float_range={[black, white]}"
    finite = np.isfinite(image)
    if not finite.all():
        raise ImageReadError(
            f"{path} has {int(image.size - finite.sum())} non-finite float pixel values (NaN or "
            f"infinity); floating-point images must hold finite values in {expected} (black, white)"
        )
    low, high = float(image.min()), float(image.max())
    if low < black or high > white:
        raise ImageReadError(
            f"{path} holds float pixel values from {low:g} to {high:g}, outside {expected} (the "
            "values of black and white in floating-point images): set data.float_range to your "
            "files' scale, e.g. [0, 255]"
        )
    return ((image.astype(np.float64) - black) / (white - black)).astype(np.float32)


def _to_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """Map OpenCV's BGR(A) channel order to RGB, dropping alpha (OpenCV reads gray+alpha as BGRA)."""
    n = image.shape[2]
    if n == 1:
        return image
    if n in (3, 4):
        return np.ascontiguousarray(image[:, :, 2::-1])
    raise ImageReadError(f"{path} has {n} channels; only gray, RGB and RGBA are supported")


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """Convert a float HWC array in [0, 1] to a float32 CHW tensor in [-1, 1]."""
    chw = np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw) * 2.0 - 1.0


def write_image(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> None:
    """Write a CHW tensor in [-1, 1] or an HWC array in [0, 1] as an 8-bit PNG or JPEG.

    The format follows the extension; parent folders are created.
    """
    path = Path(path)
    if path.suffix.lower() not in WRITE_EXTENSIONS:
        raise ValueError(f"cannot write {path}: use one of {', '.join(WRITE_EXTENSIONS)}")
    if isinstance(image, torch.Tensor):
        if image.ndim != 3:
            raise ValueError(f"cannot write {path}: expected a CHW tensor, got shape {tuple(image.shape)}")
        array = ((image.detach().float().cpu() + 1.0) / 2.0).permute(1, 2, 0).numpy()
    else:
        array = image if image.ndim == 3 else image[:, :, None]
    if array.shape[2] not in (1, 3):
        raise ValueError(f"cannot write {path}: expected 1 or 3 channels, got {array.shape[2]}")
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels[:, :, ::-1]
    ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(pixels))
    if not ok:
        raise ValueError(f"OpenCV could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded.tofile(path)
