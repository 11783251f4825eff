"""The super-resolution layout (DIV2K): HR images with LR images ``scale`` times smaller, read
from a folder or made from the HR images by a degradation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from i2i_zoo.data.base import _check_channels, _FolderDataModule, document_arguments
from i2i_zoo.data.degradations import Degradation, DegradationName, make_degradation, modcrop
from i2i_zoo.data.io import ImageReadError, list_images, read_image, require_folder, to_tensor
from i2i_zoo.data.stream import _RandomDataset

_SUPER_RESOLUTION = (
    "(by default root/DIV2K_train_HR/0001.png with root/DIV2K_train_LR_bicubic/X4/0001x4.png, "
    "DIV2K_valid_* alike)"
)


def check_scale(scale: int, patch_size: int | None = None) -> None:
    """Raise unless ``scale`` is a positive integer dividing the HR ``patch_size`` (if given)."""
    if scale < 1:
        raise ValueError(f"data.scale={scale} must be a positive integer")
    if patch_size is not None and (patch_size < scale or patch_size % scale):
        raise ValueError(f"data.patch_size={patch_size} must be a positive multiple of data.scale={scale}")


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
    ``float_range`` is passed to :func:`~i2i_zoo.data.io.read_image`.
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
        float_range: tuple[float, float] = (0.0, 1.0),
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
        self.float_range = float_range

    def __len__(self) -> int:
        return len(self.hr_paths)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        hr_path = self.hr_paths[index]
        hr = read_image(hr_path, self.channels, option="data.channels", float_range=self.float_range)
        hr = modcrop(hr, self.scale)
        if self.lr_paths is None:
            lr_path = hr_path
            lr = self.degrade(hr, self.scale, self._degradation_rng(index, generator))
        else:
            lr_path = self.lr_paths[index]
            lr = read_image(lr_path, self.channels, option="data.channels", float_range=self.float_range)
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


@document_arguments(
    scale="upscaling factor: LR images are ``scale`` times smaller than HR ones.",
    train_hr="folder of the training HR images, relative to root.",
    train_lr="folder of the training LR images (``{scale}`` is filled in); the LR partner of "
    "``0001.png`` is ``0001x<scale>.*`` or ``0001.*``. Null makes the LR images from the HR ones "
    "with ``degradation``.",
    val_hr="folder of the validation HR images; null for no validation.",
    val_lr="folder of the validation LR images, as ``train_lr``.",
    test_hr="folder of the test HR images; null for no test split.",
    test_lr="folder of the test LR images, as ``train_lr``.",
    degradation="how a null LR folder's images are made: ``bicubic`` (MATLAB's antialiased bicubic "
    "downscaling, as DIV2K's), ``blur_bicubic`` (Gaussian blur of ``blur_sigma``, then bicubic), "
    "``noise`` (bicubic, then Gaussian noise of ``noise_sigma``) or ``shift`` (the HR image shifted "
    "by up to ``max_shift`` LR pixels, then bicubic). Random ones draw anew in training and are "
    "fixed per image in evaluation.",
    blur_sigma="standard deviation of the ``blur_bicubic`` blur, in HR pixels.",
    noise_sigma="standard deviation of the ``noise`` noise, in 8-bit units (0-255).",
    max_shift="largest ``shift`` in x and y, in LR pixels.",
    patch_size="side of the square training HR patches (a multiple of ``scale``); the LR patches "
    "are ``patch_size / scale``.",
    augment="randomly flip and rotate (by multiples of 90 degrees) training patches.",
    batch_size="patches per training batch.",
    eval_batch_size="images per validation and test batch (whole images; more than 1 needs "
    "images of one size).",
)
class SuperResolutionDataModule(_FolderDataModule):
    """Super-resolution: HR images with LR images ``scale`` times smaller (DIV2K layout).

    ``root/DIV2K_train_HR/0001.png`` with ``root/DIV2K_train_LR_bicubic/X4/0001x4.png`` (or
    ``0001.png``; any image extension), and ``DIV2K_valid_HR/``, ``DIV2K_valid_LR_bicubic/X4/``
    for validation and testing (DIV2K's test HR images are not public). Every folder is an
    option relative to root; a null LR folder makes the LR images from the HR ones with
    ``degradation``. HR images are cropped to multiples of ``scale``. Batches hold ``lr``,
    ``hr``, ``lr_path``, ``hr_path``. ``predict_dir`` holds LR images to upscale.
    """

    demo_layout = "super_resolution"
    _layout_hint = _SUPER_RESOLUTION
    _val_option = "data.val_hr"
    _test_option = "data.test_hr"
    _eval_batch_option = "data.eval_batch_size"
    _FOLDER_OPTIONS = ("train_hr", "train_lr", "val_hr", "val_lr", "test_hr", "test_lr")

    def __init__(
        self,
        root: str | None = None,
        scale: int = 4,
        channels: int = 3,
        train_hr: str = "DIV2K_train_HR",
        train_lr: str | None = "DIV2K_train_LR_bicubic/X{scale}",
        val_hr: str | None = "DIV2K_valid_HR",
        val_lr: str | None = "DIV2K_valid_LR_bicubic/X{scale}",
        test_hr: str | None = "DIV2K_valid_HR",
        test_lr: str | None = "DIV2K_valid_LR_bicubic/X{scale}",
        degradation: DegradationName = "bicubic",
        blur_sigma: float = 1.6,
        noise_sigma: float = 10.0,
        max_shift: float = 0.5,
        patch_size: int = 96,
        augment: bool = True,
        batch_size: int = 16,
        eval_batch_size: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def _check_options(self) -> None:
        check_scale(self.hparams.scale, self.hparams.patch_size)
        self._degradation()
        for option in self._FOLDER_OPTIONS:
            self._folder(option)

    def _degradation(self) -> Degradation:
        hp = self.hparams
        return make_degradation(hp.degradation, hp.blur_sigma, hp.noise_sigma, hp.max_shift)

    def _folder(self, option: str) -> str | None:
        """The folder option ``option`` with ``{scale}`` filled in."""
        folder = self.hparams[option]
        if folder is None:
            return None
        try:
            return folder.format(scale=self.hparams.scale)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"data.{option}={folder!r}: only {{scale}} can be filled in ({error!r})") from None

    def _split(self, role: str) -> str | None:
        # The splits are the folder options train_*, val_*, test_*; a null HR folder is none.
        return role if role == "train" or self.hparams[f"{role}_hr"] is not None else None

    def _dataset(self, root: Path, role: str, split: str) -> SuperResolutionDataset:
        hp = self.hparams
        hr_folder = root / self._folder(f"{split}_hr")
        require_folder(
            hr_folder,
            f"the HR images (data.{split}_hr) of the super-resolution layout {_SUPER_RESOLUTION}{self._hint(role)}",
        )
        lr_name = self._folder(f"{split}_lr")
        lr_folder = None if lr_name is None else require_folder(
            root / lr_name,
            f"the LR images (data.{split}_lr) of the super-resolution layout {_SUPER_RESOLUTION}; "
            f"set data.{split}_lr: null to make them from the HR images with data.degradation",
        )
        return SuperResolutionDataset(
            hr_folder, lr_folder, hp.scale, hp.channels, self._degradation(),
            train=role == "train", patch_size=hp.patch_size, augment=hp.augment, float_range=hp.float_range,
        )
