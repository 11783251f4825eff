"""Datasets over the supported folder layouts; items are dicts of CHW tensors in [-1, 1]."""

from __future__ import annotations

import codecs
import csv
import os
import pickle
import random
import warnings
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from i2i_zoo.data.degradations import Degradation, modcrop
from i2i_zoo.data.io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    list_images,
    match_channels,
    read_image,
    require_folder,
    to_tensor,
)
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
    """A dataset whose random choices for an item come from the seed in the item's key.

    Training loaders index it with ``(index, seed)`` keys that the datamodule's sampler draws in
    the main process from its checkpointed generator, so the data stream is the same with any
    number of workers, persistent or not, and a resumed run replays it. A plain index (evaluation,
    direct use) seeds its own item. Subclasses implement ``_item(index, generator)``."""

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        index, seed = key if isinstance(key, tuple) else (key, key)
        return self._item(index, torch.Generator().manual_seed(seed))

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        raise NotImplementedError


def _apply(
    transform: A.Compose | None, path: Path, generator: torch.Generator, **images: np.ndarray
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

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        a, b = _read_halves(
            path, (self.channels_A, self.channels_B), ("data.channels_A", "data.channels_B"), ("A", "B")
        )
        out = _apply(self.transform, path, generator, image=a, B=b)
        return {"A": to_tensor(out["image"]), "B": to_tensor(out["B"]),
                "A_path": str(path), "B_path": str(path)}

class UnpairedDataset(_RandomDataset):
    """Two unaligned folders of images, as in CycleGAN.

    Its length is the larger folder's; item ``i`` takes A ``i % len(A)`` and a random B (drawn
    from the item's generator) or, with ``random_pairing=False``, B ``i % len(B)``. A and B get
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

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path_a = self.paths_A[index % len(self.paths_A)]
        if self.random_pairing:
            path_b = self.paths_B[int(torch.randint(len(self.paths_B), (), generator=generator))]
        else:
            path_b = self.paths_B[index % len(self.paths_B)]
        a = read_image(path_a, self.channels_A, option="data.channels_A")
        b = read_image(path_b, self.channels_B, option="data.channels_B")
        a = _apply(self.transform_A, path_a, generator, image=a)["image"]
        b = _apply(self.transform_B, path_b, generator, image=b)["image"]
        item = {"A": to_tensor(a), "B": to_tensor(b), "A_path": str(path_a), "B_path": str(path_b)}
        if self.true_B is not None:
            # Evaluation only: the hidden counterpart of each image, transformed alike.
            true_b = read_image(self.true_B[path_a], self.channels_B, option="data.channels_B")
            true_a = read_image(self.true_A[path_b], self.channels_A, option="data.channels_A")
            item["B_true"] = to_tensor(_apply(self.transform_B, path_a, generator, image=true_b)["image"])
            item["A_true"] = to_tensor(_apply(self.transform_A, path_b, generator, image=true_a)["image"])
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

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        hr_path = self.hr_paths[index]
        hr = modcrop(read_image(hr_path, self.channels, option="data.channels"), self.scale)
        if self.lr_paths is None:
            lr_path = hr_path
            lr = self.degrade(hr, self.scale, self._degradation_rng(index, generator))
        else:
            lr_path = self.lr_paths[index]
            lr = read_image(lr_path, self.channels, option="data.channels")
            self._check_lr_size(lr, hr, lr_path, hr_path)
        if self.train:
            lr, hr = self._random_patch(lr, hr, hr_path, generator)
            if self.augment:
                lr, hr = _dihedral(generator, lr, hr)
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "lr_path": str(lr_path), "hr_path": str(hr_path)}

    def _degradation_rng(self, index: int, generator: torch.Generator) -> np.random.Generator:
        if self.train:
            return np.random.default_rng(int(torch.randint(2**62, (), generator=generator)))
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
        self, lr: np.ndarray, hr: np.ndarray, hr_path: Path, generator: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        size = self.patch_size // self.scale
        height, width = lr.shape[:2]
        if height < size or width < size:
            raise ValueError(
                f"{hr_path} ({hr.shape[1]}x{hr.shape[0]} pixels) is smaller than the training "
                f"patches (data.patch_size={self.patch_size})"
            )
        top = int(torch.randint(height - size + 1, (), generator=generator))
        left = int(torch.randint(width - size + 1, (), generator=generator))
        s = self.scale
        return (
            lr[top : top + size, left : left + size],
            hr[s * top : s * (top + size), s * left : s * (left + size)],
        )


def _dihedral(generator: torch.Generator, *images: np.ndarray) -> list[np.ndarray]:
    """Apply one random flip/rotation by multiples of 90 degrees (8 in all) to every image."""
    flip_x, flip_y, transpose = torch.randint(2, (3,), generator=generator).tolist()
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

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        source_path = self.source_paths[index]
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

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        source, reference = _read_halves(
            path, (self.channels, self.channels), ("data.channels", "data.channels"), ("source", "reference")
        )
        out = _apply(self.transform, path, generator, image=source, B=reference)
        return {"source": to_tensor(out["image"]), "reference": to_tensor(out["B"]),
                "source_path": str(path), "reference_path": str(path)}



# ---------------------------------------------------------------------------------------------
# Multi-domain: images with a label (domain index, attribute vector or condition vector). Each
# reader returns the image paths and their labels, and checks that every image exists.


class MultiDomainDataset(_RandomDataset):
    """Images with labels, ``paths[i]`` labelled ``labels[i]``; items are ``image``, ``label``
    and ``path``. ``label`` is an int64 scalar where ``labels`` is an int64 ``(N,)`` array of
    domain indices, a float32 vector where it is a float32 ``(N, C)`` array. Images are read as
    RGB (gray files repeated into three channels).

    With ``aligned_paths`` (for each image, the same scene in every domain, in label order),
    items also hold ``image_true`` (K, 3, H, W), transformed alike: the true translations."""

    def __init__(
        self,
        paths: list[Path],
        labels: np.ndarray,
        transform: A.Compose | None = None,
        aligned_paths: list[list[Path]] | None = None,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} images but {len(labels)} labels")
        self.paths, self.labels, self.transform, self.aligned_paths = paths, labels, transform, aligned_paths
        if aligned_paths is not None and transform is not None:
            transform.add_targets({f"true{k}": "image" for k in range(len(aligned_paths[0]))})

    def __len__(self) -> int:
        return len(self.paths)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        images = {"image": read_image(path, 3)}
        if self.aligned_paths is not None:
            images |= {f"true{k}": read_image(other, 3) for k, other in enumerate(self.aligned_paths[index])}
        out = {key: to_tensor(value) for key, value in _apply(self.transform, path, generator, **images).items()}
        item = {"image": out["image"], "label": torch.tensor(self.labels[index]), "path": str(path)}
        if self.aligned_paths is not None:
            item["image_true"] = torch.stack([out[f"true{k}"] for k in range(len(self.aligned_paths[index]))])
        return item


def _first_few(items: list) -> str:
    return ", ".join(str(item) for item in items[:5]) + (" ..." if len(items) > 5 else "")


def _require_files(paths: list[Path], listed_in: str) -> None:
    """Raise FileNotFoundError naming the first few of ``paths`` that are not files, and their count."""
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(paths)} images listed in {listed_in} do not exist: {_first_few(missing)}"
        )


def read_domain_folders(split_folder: Path, domains: list[str]) -> tuple[list[Path], np.ndarray]:
    """The images of ``split_folder/<domain>/`` (subfolders included) for each of ``domains``,
    labelled with the domain's index in ``domains``; other folders are not read."""
    require_folder(
        split_folder,
        f"a split with one folder of images per domain ({', '.join(domains)}); data.val_split and "
        "data.test_split name the evaluation splits",
    )
    paths, labels = [], []
    for index, domain in enumerate(domains):
        folder = split_folder / domain
        if not folder.is_dir():
            present = sorted(p.name for p in split_folder.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"{folder} does not exist: data.domains names {domain!r}; the domain folders in "
                f"{split_folder} are {present}"
            )
        found = list_images(folder, f"the images of domain {domain!r}")
        paths += found
        labels += [index] * len(found)
    return paths, np.array(labels, np.int64)


def aligned_domain_paths(split_folder: Path, domains: list[str], paths: list[Path], labels: np.ndarray) -> list[list[Path]]:
    """For each of ``paths`` (in ``split_folder/<domain>/``), the files of the same name in every
    domain's folder, in label order; an error names the first image missing from a domain."""
    aligned = []
    for path, label in zip(paths, labels):
        name = path.relative_to(split_folder / domains[label])
        partners = [split_folder / domain / name for domain in domains]
        missing = [partner for partner in partners if not partner.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{missing[0]} does not exist: with data.aligned_evaluation every image of "
                f"{split_folder} must exist under the same name in each domain folder ({', '.join(domains)})"
            )
        aligned.append(partners)
    return aligned


# CelebA's split as the original StarGAN makes it: the attribute lines shuffled by Python's
# random seeded with 1234, and those that land at positions i with i + 1 < 2000 (the first
# 1999) held out for testing.
CELEBA_SPLIT_SEED = 1234
CELEBA_TEST_SIZE = 1999
_CELEBA_FORMAT = (
    "CelebA's list_attr_celeba.txt: a line with the image count, a line of attribute names, then "
    "one line per image: its file name and 1 or -1 per attribute"
)


def celeba_split(num_images: int) -> dict[str, list[int]]:
    """The indices of the ``train`` and ``test`` images among the ``num_images`` attribute lines
    (in file order), as the original StarGAN splits CelebA. A shuffle's permutation depends on
    the list's length only, so shuffling the indices moves them as it moved the lines."""
    order = list(range(num_images))
    random.Random(CELEBA_SPLIT_SEED).shuffle(order)
    return {"test": order[:CELEBA_TEST_SIZE], "train": order[CELEBA_TEST_SIZE:]}


def read_celeba_attributes(
    labels_file: Path, images_folder: Path, domains: list[str], split: str
) -> tuple[list[Path], np.ndarray]:
    """The images of ``split`` (``train`` or ``test``, see :func:`celeba_split`), in the
    shuffled order, with the attributes ``domains`` as float32 0/1 vectors (1 -> 1; -1, or 0 as
    some copies write it, -> 0). Blank lines are skipped before the shuffle."""
    if not labels_file.is_file():
        raise FileNotFoundError(f"data.labels_file: {labels_file} does not exist ({_CELEBA_FORMAT})")
    require_folder(images_folder, "the CelebA images (data.images_folder)")
    lines = labels_file.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise ValueError(f"{labels_file} does not start with an image count and the attribute names ({_CELEBA_FORMAT})")
    names = lines[1].split()
    unknown = [domain for domain in domains if domain not in names]
    if unknown:
        raise ValueError(f"data.domains: {unknown} are not attributes in {labels_file}; its attributes are {names}")
    rows = [line for line in lines[2:] if line.strip()]
    if int(lines[0]) != len(rows):
        raise ValueError(
            f"{labels_file} says it lists {int(lines[0])} images but lists {len(rows)}; correct its first line"
        )
    indices = celeba_split(len(rows))[split]
    if not indices:
        raise ValueError(
            f"{labels_file} lists {len(rows)} images and the original split holds out "
            f"{CELEBA_TEST_SIZE} for testing: none are left for training"
        )
    columns = [1 + names.index(domain) for domain in domains]
    paths, labels = [], []
    for row in (rows[i].split() for i in indices):
        if len(row) != len(names) + 1:
            raise ValueError(f"{labels_file}: the line of {row[0]} has {len(row) - 1} values for {len(names)} attributes")
        values = [row[column] for column in columns]
        if not set(values) <= {"1", "-1", "0"}:
            raise ValueError(f"{labels_file}: the line of {row[0]} has values other than 1 and -1: {values}")
        paths.append(images_folder / row[0])
        labels.append([value == "1" for value in values])
    _require_files(paths, f"{labels_file} ({split} split)")
    return paths, np.array(labels, np.float32).reshape(len(paths), len(domains))


def _array_globals() -> dict[tuple[str, str], object]:
    """The functions a pickle of numpy arrays names, under numpy 1's and 2's module names."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("core", "_core"):
        allowed[f"numpy.{core}.multiarray", "_reconstruct"] = multiarray._reconstruct
        allowed[f"numpy.{core}.multiarray", "scalar"] = multiarray.scalar
        allowed[f"numpy.{core}.numeric", "_frombuffer"] = numeric._frombuffer  # protocol 5
    allowed["_codecs", "encode"] = codecs.encode  # protocol 2 writes bytes as encode(str, "latin1")
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """Loads dicts, lists, numbers, strings and numpy arrays, nothing else. Unpickling calls any
    function a file names (``os.system`` as easily as numpy's array constructor), so a pickle
    from elsewhere could run code; this unpickler resolves numpy's array reconstructors only."""

    _allowed = _array_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}; only dicts, lists and numpy arrays are loaded from a pickle"
            ) from None


def load_array_pickle(path: Path) -> object:
    """Load a pickle of dicts, lists and numpy arrays (see :class:`_ArrayUnpickler`). Python 2
    pickles (such as GANimation's ``aus_openface.pkl``) hold arrays' bytes as ``str``, which
    Latin-1 decodes unchanged."""
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f"cannot load {path}: {error}") from error


def _read_ids(path: Path) -> list[str]:
    """Image ids, one per line (its first tab- or comma-separated field), without the image
    extension: GANimation's ids files hold file names, its conditions file their stems."""
    ids = []
    for line in path.read_text().splitlines():
        name = line.replace(",", "\t").split("\t")[0].strip()
        suffix = Path(name).suffix
        if name:
            ids.append(name.removesuffix(suffix) if suffix.lower() in IMAGE_EXTENSIONS else name)
    if not ids:
        raise ValueError(f"{path} lists no image ids")
    return ids


def read_au_conditions(
    ids_file: Path, images_folder: Path, labels_file: Path, domains: list[str]
) -> tuple[list[Path], np.ndarray]:
    """GANimation's layout: the ids in ``ids_file``, their images ``images_folder/<id>.<image
    extension>`` and their action-unit intensities from ``labels_file`` (a pickled dict from
    id to ``len(domains)`` intensities in [0, 5]), divided by 5, as float32.

    As in the original, ids without conditions are left out (with a warning saying how many:
    OpenFace finds no face in some images); an id without an image is an error."""
    if not ids_file.is_file():
        raise FileNotFoundError(
            f"{ids_file} does not exist: the ganimation layout lists the image ids of each split "
            "(one file name per line) in root/<split>_ids.csv"
        )
    if not labels_file.is_file():
        raise FileNotFoundError(
            f"data.labels_file: {labels_file} does not exist (a pickled dict from image id to "
            f"{len(domains)} action-unit intensities in [0, 5])"
        )
    require_folder(images_folder, "the images of the ganimation layout (data.images_folder)")
    conditions = load_array_pickle(labels_file)
    if not isinstance(conditions, dict):
        raise ValueError(f"{labels_file} holds a {type(conditions).__name__}, expected a dict from image id to intensities")
    ids = _read_ids(ids_file)
    kept = [i for i in ids if i in conditions]
    if len(kept) < len(ids):
        dropped = [i for i in ids if i not in conditions]
        message = f"{len(dropped)} of the {len(ids)} ids in {ids_file} have no conditions in {labels_file}"
        if not kept:
            raise ValueError(f"{message}: {_first_few(dropped)}")
        warnings.warn(f"{message} and are left out, as in the original: {_first_few(dropped)}", stacklevel=2)
    images: dict[str, list[Path]] = {}
    for path in images_folder.iterdir():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.setdefault(path.stem, []).append(path)
    missing = [i for i in kept if i not in images]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(kept)} ids in {ids_file} have no image <id>.<image extension> "
            f"in {images_folder}: {_first_few(missing)}"
        )
    twice = [i for i in kept if len(images[i]) > 1]
    if twice:
        raise ValueError(f"{images_folder} holds several images of id {twice[0]}: {sorted(p.name for p in images[twice[0]])}")
    labels = np.zeros((len(kept), len(domains)), np.float32)
    for row, i in enumerate(kept):
        vector = np.asarray(conditions[i], np.float32).ravel()
        if len(vector) != len(domains):
            raise ValueError(
                f"{labels_file}: id {i} has {len(vector)} conditions, but data.domains names {len(domains)}: {domains}"
            )
        labels[row] = vector / 5.0
    return [images[i][0] for i in kept], labels


def read_condition_csv(csv_file: Path, root: Path, domains: list[str]) -> tuple[list[Path], np.ndarray]:
    """The rows of ``csv_file``: a ``path`` column (relative to ``root``) and the number columns
    ``domains``, returned as a float32 ``(N, len(domains))`` array; other columns are ignored."""
    if not csv_file.is_file():
        raise FileNotFoundError(
            f"{csv_file} does not exist: the csv layout holds root/<split>.csv with a path column "
            "(relative to root) and one column per condition"
        )
    with open(csv_file, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise ValueError(f"{csv_file} has no path column (image paths relative to root); its columns are {columns}")
        unknown = [name for name in domains if name not in columns]
        if unknown:
            raise ValueError(f"data.domains: {unknown} are not columns of {csv_file}; its columns are {columns}")
        paths, labels = [], []
        for row in reader:
            try:
                labels.append([float(row[name]) for name in domains])
            except (TypeError, ValueError):
                raise ValueError(f"{csv_file} line {reader.line_num}: the columns {domains} must hold numbers, got {row}") from None
            paths.append(root / row["path"])
    if not paths:
        raise ValueError(f"{csv_file} has no rows")
    _require_files(paths, str(csv_file))
    return paths, np.array(labels, np.float32)
