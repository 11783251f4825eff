"""Datasets over the pix2pix/CycleGAN folder layouts; items are dicts of CHW tensors in [-1, 1]."""

from __future__ import annotations

import os
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from i2i_zoo.data.io import ImageReadError, list_images, read_image, to_tensor
from i2i_zoo.data.transforms import seed_from_torch

# ITU-R BT.601 luma weights for R, G, B.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _check_channels(**channels: int) -> None:
    for name, value in channels.items():
        if value not in (1, 3):
            raise ValueError(f"{name}={value} is not supported; use 1 or 3")


def _to_luma_if(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert an RGB image to 1-channel luma when ``channels`` asks for fewer channels."""
    return image @ _LUMA[:, None] if channels < image.shape[2] else image


class _RandomDataset(Dataset):
    """A dataset whose random choices come from ``generator`` when one is set (the datamodule
    sets its training loader's, so a checkpoint restores the data stream), else from torch's RNG."""

    generator: torch.Generator | None = None

    def __getstate__(self) -> dict:
        # A generator cannot be pickled into DataLoader workers; there torch's RNG, seeded by the
        # loader from the generator, takes its place.
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
        return transform(**images)
    except Exception as error:  # albumentations' CropSizeError is no ValueError
        raise ValueError(f"cannot transform {path}: {error}") from error


class AlignedDataset(_RandomDataset):
    """Side-by-side AB images (A left half, B right half), as in pix2pix.

    An AB file is one image with one channel count. When ``channels_A != channels_B`` the file
    must be RGB and the 1-channel half is converted to gray with the ITU-R 601 luma.
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
        ab = self._read(path)
        if ab.shape[1] % 2:
            raise ImageReadError(
                f"{path} has odd width {ab.shape[1]}; an AB image's width must be even "
                "(A left half | B right half)"
            )
        half = ab.shape[1] // 2
        a = _to_luma_if(ab[:, :half], self.channels_A)
        b = _to_luma_if(ab[:, half:], self.channels_B)
        out = _apply(self.transform, path, self.generator, image=a, B=b)
        return {"A": to_tensor(out["image"]), "B": to_tensor(out["B"]),
                "A_path": str(path), "B_path": str(path)}

    def _read(self, path: Path) -> np.ndarray:
        if self.channels_A == self.channels_B:
            option = "data.channels_A and data.channels_B"
            return read_image(path, self.channels_A, option=option)
        option = "data.channels_A" if self.channels_A == 3 else "data.channels_B"
        return read_image(path, 3, option=option)


class UnpairedDataset(_RandomDataset):
    """Two unaligned folders of images, as in CycleGAN.

    Its length is the larger folder's; item ``i`` takes A ``i % len(A)`` and a random B (drawn
    from torch's RNG) or, with ``random_pairing=False``, B ``i % len(B)``. A and B get
    independent random transforms.
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
    ) -> None:
        _check_channels(channels_A=channels_A, channels_B=channels_B)
        self.paths_A = list_images(folder_A, "a folder of domain A images")
        self.paths_B = list_images(folder_B, "a folder of domain B images")
        self.channels_A, self.channels_B = channels_A, channels_B
        self.transform_A, self.transform_B = transform_A, transform_B
        self.random_pairing = random_pairing

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path_a = self.paths_A[index % len(self.paths_A)]
        if self.random_pairing:
            path_b = self.paths_B[int(torch.randint(len(self.paths_B), (), generator=self.generator))]
        else:
            path_b = self.paths_B[index % len(self.paths_B)]
        a = read_image(path_a, self.channels_A, option="data.channels_A")
        b = read_image(path_b, self.channels_B, option="data.channels_B")
        a = _apply(self.transform_A, path_a, self.generator, image=a)["image"]
        b = _apply(self.transform_B, path_b, self.generator, image=b)["image"]
        return {"A": to_tensor(a), "B": to_tensor(b), "A_path": str(path_a), "B_path": str(path_b)}


class ImageFolderDataset(Dataset):
    """A plain folder of images at their original sizes (for prediction)."""

    def __init__(self, folder: str | os.PathLike, channels: int | None = None) -> None:
        if channels is not None:
            _check_channels(channels=channels)
        self.paths = list_images(folder)
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        image = read_image(path, self.channels, option="channels")
        return {"image": to_tensor(image), "path": str(path)}
