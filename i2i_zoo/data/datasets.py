"""Datasets over the pix2pix/CycleGAN folder layouts; items are dicts of CHW tensors in [-1, 1]."""

from __future__ import annotations

import os
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from i2i_zoo.data.io import ImageReadError, list_images, match_channels, read_image, to_tensor
from i2i_zoo.data.transforms import seed_from_torch

def _check_channels(**channels: int) -> None:
    for name, value in channels.items():
        if value not in (1, 3):
            raise ValueError(f"data.{name}={value} is not supported; use 1 or 3")


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
        ab = read_image(path)
        if ab.shape[1] % 2:
            raise ImageReadError(
                f"{path} has odd width {ab.shape[1]}; an AB image's width must be even "
                "(A left half | B right half)"
            )
        half = ab.shape[1] // 2
        a = match_channels(ab[:, :half], self.channels_A, path, "data.channels_A")
        b = match_channels(ab[:, half:], self.channels_B, path, "data.channels_B")
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
    """A plain folder of images at their original sizes and channel counts (for prediction)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.paths = list_images(folder)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        return {"image": to_tensor(read_image(path)), "path": str(path)}
