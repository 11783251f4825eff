"""Datasets, transforms and datamodules over image folders (files <-> tensors in [-1, 1])."""

from i2i_zoo.data.datamodules import (
    MultiDomainDataModule,
    PairedDataModule,
    ReferencePairDataModule,
    SuperResolutionDataModule,
    UnpairedDataModule,
)
from i2i_zoo.data.datasets import (
    AffineWarps,
    AlignedDataset,
    ImageFolderDataset,
    MultiDomainDataset,
    ReferencePairDataset,
    SideBySideReferenceDataset,
    SuperResolutionDataset,
    UnpairedDataset,
)
from i2i_zoo.data.degradations import DEGRADATIONS, make_degradation
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
    "DEGRADATIONS",
    "IMAGE_EXTENSIONS",
    "PREPROCESS_MODES",
    "AffineWarps",
    "AlignedDataset",
    "ImageFolderDataset",
    "ImageReadError",
    "MultiDomainDataModule",
    "MultiDomainDataset",
    "PairedDataModule",
    "ReferencePairDataModule",
    "ReferencePairDataset",
    "SideBySideReferenceDataset",
    "SuperResolutionDataModule",
    "SuperResolutionDataset",
    "UnpairedDataModule",
    "UnpairedDataset",
    "build_transform",
    "list_images",
    "make_degradation",
    "read_image",
    "require_folder",
    "seed_from_torch",
    "to_tensor",
    "write_image",
]
