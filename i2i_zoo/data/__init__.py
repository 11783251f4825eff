"""Datasets, transforms and datamodules over image folders (files <-> tensors in [-1, 1])."""

from i2i_zoo.data.datamodules import PairedDataModule, UnpairedDataModule
from i2i_zoo.data.datasets import AlignedDataset, ImageFolderDataset, UnpairedDataset
from i2i_zoo.data.io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    list_images,
    read_image,
    require_folder,
    to_tensor,
    write_image,
)
from i2i_zoo.data.transforms import PREPROCESS_MODES, build_transform, seed_from_torch

__all__ = [
    "IMAGE_EXTENSIONS",
    "PREPROCESS_MODES",
    "AlignedDataset",
    "ImageFolderDataset",
    "ImageReadError",
    "PairedDataModule",
    "UnpairedDataModule",
    "UnpairedDataset",
    "build_transform",
    "list_images",
    "read_image",
    "require_folder",
    "seed_from_torch",
    "to_tensor",
    "write_image",
]
