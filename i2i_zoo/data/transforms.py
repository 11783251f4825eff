"""Augmentations (albumentations) whose random parameters are shared by the A and B images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import albumentations as A
import cv2
import torch
import yaml

PREPROCESS_MODES = ("resize_and_crop", "crop", "resize", "none")
PreprocessMode = Literal[PREPROCESS_MODES]


def build_transform(
    load_size: int,
    crop_size: int,
    flip: bool,
    train: bool,
    preprocess: PreprocessMode = "resize_and_crop",
    augmentations: A.BaseCompose | A.BasicTransform | None = None,
) -> A.Compose:
    """Build the pix2pix/CycleGAN preprocessing for float HWC images.

    Call it as ``transform(image=a, B=b)`` (``B`` optional); A and B get the same crop and flip
    and may have different channel counts. ``preprocess`` is one of ``resize_and_crop`` (resize
    to ``load_size`` squared, random ``crop_size`` crop), ``crop`` (random crop only),
    ``resize`` (resize to ``crop_size`` squared) or ``none``. Training adds a horizontal flip when
    ``flip``. Evaluation (``train=False``) is deterministic: it resizes to ``crop_size``
    (``resize_and_crop``, ``resize``; the original tests with load size = crop size), takes the
    centre ``crop_size`` crop at native scale (``crop``), or leaves the image as it is (``none``).
    ``augmentations`` (see :func:`load_augmentations`) run last, in training only, with the same
    random draw for A and B.
    """
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"data.preprocess={preprocess!r} is unknown; use one of {PREPROCESS_MODES}")
    if crop_size > load_size and preprocess == "resize_and_crop":
        raise ValueError(f"data.crop_size={crop_size} must not exceed data.load_size={load_size}")
    if crop_size < 1 or load_size < 1:
        raise ValueError(f"data.crop_size={crop_size} and data.load_size={load_size} must be positive")

    steps: list[A.BasicTransform] = []
    if not train:
        if preprocess == "crop":
            steps.append(A.CenterCrop(crop_size, crop_size))
        elif preprocess != "none":
            steps.append(resize_square(crop_size))
    else:
        if preprocess == "resize_and_crop":
            steps += [resize_square(load_size), A.RandomCrop(crop_size, crop_size)]
        elif preprocess == "crop":
            steps.append(A.RandomCrop(crop_size, crop_size))
        elif preprocess == "resize":
            steps.append(resize_square(crop_size))
        if flip:
            steps.append(A.HorizontalFlip(p=0.5))
        if augmentations is not None:
            steps.append(augmentations)
    return A.Compose(steps, additional_targets={"B": "image"})


def resize_square(size: int) -> A.Resize:
    """Resize to ``size`` squared: bicubic as the original (PIL BICUBIC); area when shrinking,
    which, like PIL, avoids aliasing."""
    return A.Resize(size, size, interpolation=cv2.INTER_CUBIC, area_for_downscale="image")


def shortest_side_resize(size: int) -> A.SmallestMaxSize:
    """Resize the shorter side to ``size``, keeping the aspect ratio (interpolation as
    ``resize_square``)."""
    return A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_CUBIC, area_for_downscale="image")


def seed_from_torch(transform: A.Compose, generator: torch.Generator | None = None) -> None:
    """Seed ``transform`` from ``generator`` (an item's, see ``_RandomDataset``) or torch's RNG."""
    transform.set_random_seed(int(torch.randint(2**31 - 1, (), generator=generator)))


def load_augmentations(spec: str | dict | None) -> A.BaseCompose | A.BasicTransform | None:
    """The user's augmentation pipeline (``data.augmentations``): albumentations' own
    serialisation (``A.to_dict(transform)``), given as that dict or as the path of a .yaml/.json
    file holding it; None for none."""
    if spec is None:
        return None
    expected = "expected the dict of A.to_dict(pipeline) (with its 'transform' key) or a .yaml/.json file holding it"
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        if path.suffix.lower() not in (".yaml", ".yml", ".json") or not path.is_file():
            raise FileNotFoundError(f"data.augmentations: {path} is not a .yaml/.yml/.json file; {expected}")
        with open(path) as f:
            spec = json.load(f) if path.suffix.lower() == ".json" else yaml.safe_load(f)
    if not isinstance(spec, dict) or "transform" not in spec:
        raise ValueError(f"data.augmentations: got {spec!r}; {expected}")
    try:
        return A.from_dict(spec)
    except Exception as error:  # albumentations raises KeyError, ValueError, pydantic's errors...
        raise ValueError(f"data.augmentations is not a valid albumentations pipeline: {error!r}; {expected}") from error
