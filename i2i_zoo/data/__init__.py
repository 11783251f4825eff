"""Datasets, transforms and datamodules over image folders (files <-> tensors in [-1, 1]), one
module per folder layout (paired, unpaired, super_resolution, reference, multi_domain) on a
shared base."""

from i2i_zoo.data.base import ImageFolderDataset, SampleRequests
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
from i2i_zoo.data.multi_domain import MultiDomainDataModule, MultiDomainDataset
from i2i_zoo.data.paired import AlignedDataset, PairedDataModule, TwoFolderPairedDataset
from i2i_zoo.data.reference import (
    AffineWarps,
    ReferencePairDataModule,
    ReferencePairDataset,
    SideBySideReferenceDataset,
)
from i2i_zoo.data.super_resolution import SuperResolutionDataModule, SuperResolutionDataset
from i2i_zoo.data.transforms import PREPROCESS_MODES, build_transform, load_augmentations, seed_from_torch
from i2i_zoo.data.unpaired import UnpairedDataModule, UnpairedDataset

__all__ = [
    "DEGRADATIONS",
    "IMAGE_EXTENSIONS",
    "PREPROCESS_MODES",
    "AffineWarps",
    "AlignedDataset",
    "ImageFolderDataset",
    "SampleRequests",
    "ImageReadError",
    "MultiDomainDataModule",
    "MultiDomainDataset",
    "PairedDataModule",
    "ReferencePairDataModule",
    "ReferencePairDataset",
    "SideBySideReferenceDataset",
    "SuperResolutionDataModule",
    "SuperResolutionDataset",
    "TwoFolderPairedDataset",
    "UnpairedDataModule",
    "UnpairedDataset",
    "build_transform",
    "list_images",
    "load_augmentations",
    "make_degradation",
    "read_image",
    "require_folder",
    "seed_from_torch",
    "to_tensor",
    "write_image",
]
