"""Datasets over the supported folder layouts; items are dicts of CHW tensors in [-1, 1]."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from i2i_zoo.data.degradations import Degradation, modcrop
from i2i_zoo.data.io import ImageReadError, list_images, match_channels, read_image, to_tensor
from i2i_zoo.data.transforms import seed_from_torch


def _check_channels(**channels: int) -> None:
    for name, value in channels.items():
        if value not in (1, 3):
            raise ValueError(f"data.{name}={value} is not supported; use 1 or 3")


def check_scale(scale: int, patch_size: int | None = None) -> None:
    """Raise unless ``scale`` is a positive integer dividing the HR ``patch_size`` (if given)."""
    if scale < 1:
        raise ValueError(f"data.scale={scale} must be a positive integer")
    if patch_size is not None and (patch_size < scale or patch_size % scale):
        raise ValueError(f"data.patch_size={patch_size} must be a positive multiple of data.scale={scale}")


class _RandomDataset(Dataset):
    """A dataset whose random choices come from ``generator`` (the datamodule sets its loader's,
    so a checkpoint restores the data stream). In a DataLoader worker they come from the
    worker's torch RNG instead, which the loader seeds from that generator and the worker id:
    forked workers inherit a copy of the generator, and each would repeat the same stream."""

    generator: torch.Generator | None = None

    def _random_source(self) -> torch.Generator | None:
        return self.generator if get_worker_info() is None else None

    def __getstate__(self) -> dict:
        # Workers started by spawn receive a pickled copy; they use their own RNG anyway.
        return {**self.__dict__, "generator": None}


def _apply(
    transform: A.Compose | None, path: Path, generator: torch.Generator | None, **images: np.ndarray
) -> dict[str, np.ndarray]:
    """Apply ``transform`` with a seed drawn from ``generator``; errors (e.g. image too small)
    name ``path``."""
    if transform is None:
        return images
    seed_from_torch(transform, generator)
    try:
        transformed = transform(**images)
    except Exception as error:  # albumentations' CropSizeError is no ValueError
        raise ValueError(f"cannot transform {path}: {error}") from error
    # Bicubic resizing overshoots the [0, 1] range near edges.
    return {key: np.clip(value, 0.0, 1.0) for key, value in transformed.items()}


def _read_halves(
    path: Path, channels: tuple[int, int], options: tuple[str, str], names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Read a side-by-side image as its left and right halves with the given ``channels``
    (``options`` name the settings, ``names`` the halves in the odd-width error)."""
    image = read_image(path)
    if image.shape[1] % 2:
        raise ImageReadError(
            f"{path} has odd width {image.shape[1]}; a side-by-side image's width must be even "
            f"({names[0]} left half | {names[1]} right half)"
        )
    half = image.shape[1] // 2
    left = match_channels(image[:, :half], channels[0], path, options[0])
    right = match_channels(image[:, half:], channels[1], path, options[1])
    return left, right


class AlignedDataset(_RandomDataset):
    """Side-by-side AB images (A left half, B right half), as in pix2pix.

    Each half is given its channel count as :func:`~i2i_zoo.data.io.match_channels` does: an RGB
    AB file whose A half is gray (equal channels) serves ``channels_A=1``.
    ``transform`` is called as ``transform(image=a, B=b)`` so both halves get the same crop.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        channels_A: int = 3,
        channels_B: int = 3,
        transform: A.Compose | None = None,
    ) -> None:
        _check_channels(channels_A=channels_A, channels_B=channels_B)
        self.paths = list_images(folder, "a folder of side-by-side AB images")
        self.channels_A, self.channels_B = channels_A, channels_B
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        a, b = _read_halves(
            path, (self.channels_A, self.channels_B), ("data.channels_A", "data.channels_B"), ("A", "B")
        )
        out = _apply(self.transform, path, self._random_source(), image=a, B=b)
        return {"A": to_tensor(out["image"]), "B": to_tensor(out["B"]),
                "A_path": str(path), "B_path": str(path)}

class UnpairedDataset(_RandomDataset):
    """Two unaligned folders of images, as in CycleGAN.

    Its length is the larger folder's; item ``i`` takes A ``i % len(A)`` and a random B (drawn
    from torch's RNG) or, with ``random_pairing=False``, B ``i % len(B)``. A and B get
    independent random transforms. With ``true_pairs`` (A path -> its true B path, known for
    evaluation only) items also hold ``B_true`` (A's counterpart) and ``A_true`` (B's); use it
    with deterministic transforms.
    """

    def __init__(
        self,
        folder_A: str | os.PathLike,
        folder_B: str | os.PathLike,
        channels_A: int = 3,
        channels_B: int = 3,
        transform_A: A.Compose | None = None,
        transform_B: A.Compose | None = None,
        random_pairing: bool = True,
        true_pairs: dict[Path, Path] | None = None,
    ) -> None:
        _check_channels(channels_A=channels_A, channels_B=channels_B)
        self.paths_A = list_images(folder_A, "a folder of domain A images")
        self.paths_B = list_images(folder_B, "a folder of domain B images")
        self.channels_A, self.channels_B = channels_A, channels_B
        self.transform_A, self.transform_B = transform_A, transform_B
        self.random_pairing = random_pairing
        self.true_B = true_pairs
        self.true_A = {b: a for a, b in true_pairs.items()} if true_pairs else None
        for path in self.paths_A if true_pairs else ():
            if path not in true_pairs:
                raise ValueError(f"{path} has no true pair in the pairs file (data.pairs_file)")

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path_a = self.paths_A[index % len(self.paths_A)]
        source = self._random_source()
        if self.random_pairing:
            path_b = self.paths_B[int(torch.randint(len(self.paths_B), (), generator=source))]
        else:
            path_b = self.paths_B[index % len(self.paths_B)]
        a = read_image(path_a, self.channels_A, option="data.channels_A")
        b = read_image(path_b, self.channels_B, option="data.channels_B")
        a = _apply(self.transform_A, path_a, source, image=a)["image"]
        b = _apply(self.transform_B, path_b, source, image=b)["image"]
        item = {"A": to_tensor(a), "B": to_tensor(b), "A_path": str(path_a), "B_path": str(path_b)}
        if self.true_B is not None:
            # Evaluation only: the hidden counterpart of each image, transformed alike.
            true_b = read_image(self.true_B[path_a], self.channels_B, option="data.channels_B")
            true_a = read_image(self.true_A[path_b], self.channels_A, option="data.channels_A")
            item["B_true"] = to_tensor(_apply(self.transform_B, path_a, source, image=true_b)["image"])
            item["A_true"] = to_tensor(_apply(self.transform_A, path_b, source, image=true_a)["image"])
        return item


class ImageFolderDataset(Dataset):
    """A plain folder of images at their original sizes and channel counts (for prediction).

    With ``reference`` (an image file), items also hold ``reference``: that image resized to
    each image's size, for reference-guided methods.
    """

    def __init__(self, folder: str | os.PathLike, reference: str | os.PathLike | None = None) -> None:
        self.paths = list_images(folder)
        self.reference = None if reference is None else read_image(reference)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        image = read_image(path)
        item = {"image": to_tensor(image), "path": str(path)}
        if self.reference is not None:
            reference = match_channels(self.reference, image.shape[2], path, "data.predict_reference")
            item["reference"] = to_tensor(_resize_to(reference, *image.shape[:2]))
        return item


def _lr_partners(hr_paths: list[Path], hr_folder: Path, lr_folder: Path, scale: int) -> list[Path]:
    """The LR image of each HR image: for ``0001.png`` the file ``0001x4.*`` (DIV2K's names, at
    scale 4) or else ``0001.*`` in the same subfolder of ``lr_folder``, any image extension."""
    lr_by_name: dict[Path, Path] = {}
    for path in list_images(lr_folder, "a folder of low-resolution images"):
        name = path.relative_to(lr_folder).with_suffix("")
        if name in lr_by_name:
            raise ValueError(f"{lr_folder} holds two images named {name}: {lr_by_name[name].name} and {path.name}")
        lr_by_name[name] = path
    partners = []
    for hr_path in hr_paths:
        name = hr_path.relative_to(hr_folder).with_suffix("")
        candidates = (name.with_name(f"{name.name}x{scale}"), name)
        found = [lr_by_name[candidate] for candidate in candidates if candidate in lr_by_name]
        if not found:
            tried = " or ".join(f"{candidate}.<image extension>" for candidate in candidates)
            raise FileNotFoundError(f"no low-resolution image for {hr_path} in {lr_folder}: looked for {tried}")
        partners.append(found[0])
    return partners


class SuperResolutionDataset(_RandomDataset):
    """High-resolution (HR) images with low-resolution (LR) counterparts ``scale`` times smaller.

    HR images are first cropped at the bottom and right to multiples of ``scale`` ("modcrop").
    LR images come from ``lr_folder`` (paired by name, see :func:`_lr_partners`; each must be
    exactly the cropped HR size / ``scale``) or, when it is None, from ``degrade(hr, scale, rng)``
    (see :mod:`i2i_zoo.data.degradations`); ``lr_path`` is then the HR file.
    Training (``train=True``) takes aligned random patches, ``patch_size`` HR and
    ``patch_size // scale`` LR pixels square, flipped and rotated alike when ``augment``, and
    draws the degradation's randomness from the data stream. Evaluation returns whole images
    and seeds the degradation by the image's index, so every pass sees the same LR images.
    """

    def __init__(
        self,
        hr_folder: str | os.PathLike,
        lr_folder: str | os.PathLike | None,
        scale: int,
        channels: int = 3,
        degrade: Degradation | None = None,
        train: bool = False,
        patch_size: int = 96,
        augment: bool = True,
    ) -> None:
        _check_channels(channels=channels)
        if lr_folder is None and degrade is None:
            raise ValueError("without an LR folder, a degradation must make the LR images from the HR ones")
        check_scale(scale, patch_size if train else None)  # evaluation takes whole images
        hr_folder = Path(hr_folder)
        self.hr_paths = list_images(hr_folder, "a folder of high-resolution images")
        self.lr_paths = (
            None if lr_folder is None else _lr_partners(self.hr_paths, hr_folder, Path(lr_folder), scale)
        )
        self.scale, self.channels, self.degrade = scale, channels, degrade
        self.train, self.patch_size, self.augment = train, patch_size, augment

    def __len__(self) -> int:
        return len(self.hr_paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        hr_path = self.hr_paths[index]
        source = self._random_source()
        hr = modcrop(read_image(hr_path, self.channels, option="data.channels"), self.scale)
        if self.lr_paths is None:
            lr_path = hr_path
            lr = self.degrade(hr, self.scale, self._degradation_rng(index, source))
        else:
            lr_path = self.lr_paths[index]
            lr = read_image(lr_path, self.channels, option="data.channels")
            self._check_lr_size(lr, hr, lr_path, hr_path)
        if self.train:
            lr, hr = self._random_patch(lr, hr, hr_path, source)
            if self.augment:
                lr, hr = _dihedral(source, lr, hr)
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "lr_path": str(lr_path), "hr_path": str(hr_path)}

    def _degradation_rng(self, index: int, source: torch.Generator | None) -> np.random.Generator:
        if self.train:
            return np.random.default_rng(int(torch.randint(2**62, (), generator=source)))
        return np.random.default_rng(index)

    def _check_lr_size(self, lr: np.ndarray, hr: np.ndarray, lr_path: Path, hr_path: Path) -> None:
        expected = (hr.shape[0] // self.scale, hr.shape[1] // self.scale)
        if lr.shape[:2] != expected:
            raise ImageReadError(
                f"{lr_path} is {lr.shape[1]}x{lr.shape[0]} pixels, expected {expected[1]}x{expected[0]}: "
                f"its HR image {hr_path} is {hr.shape[1]}x{hr.shape[0]} (cropped to multiples of "
                f"data.scale={self.scale}) and the LR image must be {self.scale} times smaller"
            )

    def _random_patch(
        self, lr: np.ndarray, hr: np.ndarray, hr_path: Path, source: torch.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        size = self.patch_size // self.scale
        height, width = lr.shape[:2]
        if height < size or width < size:
            raise ValueError(
                f"{hr_path} ({hr.shape[1]}x{hr.shape[0]} pixels) is smaller than the training "
                f"patches (data.patch_size={self.patch_size})"
            )
        top = int(torch.randint(height - size + 1, (), generator=source))
        left = int(torch.randint(width - size + 1, (), generator=source))
        s = self.scale
        return (
            lr[top : top + size, left : left + size],
            hr[s * top : s * (top + size), s * left : s * (left + size)],
        )


def _dihedral(source: torch.Generator | None, *images: np.ndarray) -> list[np.ndarray]:
    """Apply one random flip/rotation by multiples of 90 degrees (8 in all) to every image."""
    flip_x, flip_y, transpose = torch.randint(2, (3,), generator=source).tolist()
    out = []
    for image in images:
        image = image[:, ::-1] if flip_x else image
        image = image[::-1] if flip_y else image
        out.append(image.transpose(1, 0, 2) if transpose else image)
    return out


class AffineWarps:
    """Affine maps of images to a shared canonical frame (e.g. from a face aligner's
    landmarks), read from a CSV with the columns ``path,a11,a12,a13,a21,a22,a23``.

    Pixel coordinates (x, y) of the image at ``root / path`` map to the canonical frame by
    ``[[a11, a12, a13], [a21, a22, a23]] @ (x, y, 1)``, in OpenCV's convention (x right, y down,
    pixel centres at integers).
    """

    COLUMNS = ("path", "a11", "a12", "a13", "a21", "a22", "a23")

    def __init__(self, file: str | os.PathLike, root: str | os.PathLike) -> None:
        self.file = Path(file)
        if not self.file.is_file():
            raise FileNotFoundError(
                f"data.warps_file: {self.file} does not exist (a CSV with columns {','.join(self.COLUMNS)})"
            )
        self.matrices: dict[Path, np.ndarray] = {}
        with open(self.file, newline="") as f:
            reader = csv.DictReader(f)
            missing = [column for column in self.COLUMNS if column not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(
                    f"data.warps_file: {self.file} lacks the columns {missing}; "
                    f"it needs {','.join(self.COLUMNS)}"
                )
            for row in reader:
                self.matrices[Path(root) / row["path"]] = self._matrix(row, reader.line_num)

    def _matrix(self, row: dict[str, str | None], line: int) -> np.ndarray:
        try:
            values = [float(row[column]) for column in self.COLUMNS[1:]]
        except (TypeError, ValueError):
            raise ValueError(
                f"data.warps_file: {self.file} line {line}: a11..a23 must be numbers, got {row}"
            ) from None
        matrix = np.array([values[:3], values[3:], [0.0, 0.0, 1.0]])
        if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-12:
            raise ValueError(
                f"data.warps_file: {self.file} line {line}: the matrix of {row['path']} is not invertible"
            )
        return matrix

    def require(self, paths: list[Path]) -> None:
        """Raise naming the first of ``paths`` without a row."""
        for path in paths:
            if path not in self.matrices:
                raise ValueError(f"{path} has no row in the warps file {self.file} (data.warps_file)")

    def align(
        self, reference: np.ndarray, reference_path: Path, source_path: Path, size: tuple[int, int]
    ) -> np.ndarray:
        """Warp ``reference`` onto the pixel grid of its source, ``size`` = (width, height):
        reference pixels go to the canonical frame, then back by the source's inverse map.
        Bilinear; edges replicated, because reflecting would mirror features such as eyes
        into the border."""
        to_source = np.linalg.inv(self.matrices[source_path]) @ self.matrices[reference_path]
        warped = cv2.warpAffine(
            reference, to_source[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return warped.reshape(size[1], size[0], reference.shape[2])


def _resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    # Area when shrinking, bicubic when enlarging, as the pix2pix transforms.
    shrink = height * width < image.shape[0] * image.shape[1]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(resized.reshape(height, width, image.shape[2]), 0.0, 1.0)


class ReferencePairDataset(_RandomDataset):
    """Source images, each with a reference image (e.g. a makeup style), from two folders.

    Its length is the number of sources; item ``i`` takes source ``i`` and a random reference
    (from the data stream) or, with ``random_pairing=False``, reference ``i % len(references)``
    (names sorted). With ``warps``, every source and reference needs a row and the reference is
    warped onto its source's pixel grid; otherwise a reference of another size is resized to
    the source's. ``transform`` is called as ``transform(image=source, B=reference)``, so both
    get the same crop and flip.
    """

    def __init__(
        self,
        source_folder: str | os.PathLike,
        reference_folder: str | os.PathLike,
        channels: int = 3,
        transform: A.Compose | None = None,
        random_pairing: bool = True,
        warps: AffineWarps | None = None,
    ) -> None:
        _check_channels(channels=channels)
        self.source_paths = list_images(source_folder, "a folder of source images")
        self.reference_paths = list_images(reference_folder, "a folder of reference images")
        if warps is not None:
            warps.require(self.source_paths + self.reference_paths)
        self.channels, self.transform = channels, transform
        self.random_pairing, self.warps = random_pairing, warps

    def __len__(self) -> int:
        return len(self.source_paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        source_path = self.source_paths[index]
        generator = self._random_source()
        if self.random_pairing:
            reference_index = int(torch.randint(len(self.reference_paths), (), generator=generator))
        else:
            reference_index = index % len(self.reference_paths)
        reference_path = self.reference_paths[reference_index]
        source = read_image(source_path, self.channels, option="data.channels")
        reference = read_image(reference_path, self.channels, option="data.channels")
        height, width = source.shape[:2]
        if self.warps is not None:
            reference = self.warps.align(reference, reference_path, source_path, (width, height))
        elif reference.shape[:2] != (height, width):
            reference = _resize_to(reference, height, width)
        out = _apply(self.transform, source_path, generator, image=source, B=reference)
        return {"source": to_tensor(out["image"]), "reference": to_tensor(out["B"]),
                "source_path": str(source_path), "reference_path": str(reference_path)}


class SideBySideReferenceDataset(_RandomDataset):
    """Side-by-side images, source left half and reference right half (pix2pix's AB files);
    ``transform`` gives both halves the same crop and flip."""

    def __init__(
        self, folder: str | os.PathLike, channels: int = 3, transform: A.Compose | None = None
    ) -> None:
        _check_channels(channels=channels)
        self.paths = list_images(folder, "a folder of side-by-side source|reference images")
        self.channels, self.transform = channels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        source, reference = _read_halves(
            path, (self.channels, self.channels), ("data.channels", "data.channels"), ("source", "reference")
        )
        out = _apply(self.transform, path, self._random_source(), image=source, B=reference)
        return {"source": to_tensor(out["image"]), "reference": to_tensor(out["B"]),
                "source_path": str(path), "reference_path": str(path)}
