"""The paired layout (pix2pix): ``root/train/``, ``root/val/``, ``root/test/`` holding
side-by-side AB images."""

from __future__ import annotations

import os
from pathlib import Path

import albumentations as A

from i2i_zoo.data.base import _PreprocessedDataModule, _SideBySideDataset, document_arguments
from i2i_zoo.data.io import require_folder

_PAIRED = "(root/train/, root/val/, root/test/ holding side-by-side AB images)"


class AlignedDataset(_SideBySideDataset):
    """Side-by-side AB images (A left half, B right half), as in pix2pix.

    Each half is given its channel count as :func:`~i2i_zoo.data.io.match_channels` does: an RGB
    AB file whose A half is gray (equal channels) serves ``channels_A=1``. With ``square_halves``
    a file must be twice as wide as high. ``transform`` is called as ``transform(image=a, B=b)``
    so both halves get the same crop. ``float_range`` is passed to
    :func:`~i2i_zoo.data.io.read_image`.
    """

    halves = ("A", "B")

    def __init__(
        self,
        folder: str | os.PathLike,
        channels_A: int = 3,
        channels_B: int = 3,
        transform: A.Compose | None = None,
        square_halves: bool = True,
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__(
            folder, (channels_A, channels_B), ("data.channels_A", "data.channels_B"), transform,
            "a folder of side-by-side AB images", square_halves, float_range,
        )


@document_arguments()
class PairedDataModule(_PreprocessedDataModule):
    """Aligned pairs in the pix2pix layout: ``root/train/``, ``root/val/``, ``root/test/``
    holding side-by-side AB images (A left half, B right half)."""

    demo_layout = "paired"
    _layout_hint = _PAIRED

    def __init__(
        self,
        root: str | None = None,
        channels_A: int = 3,
        channels_B: int = 3,
        val_split: str | None = "val",
        test_split: str | None = "test",
        square_halves: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def _dataset(self, root: Path, role: str, split: str) -> AlignedDataset:
        hp = self.hparams
        what = {"train": "", "val": "the validation split of ", "test": "the test split of "}[role]
        require_folder(root / split, f"{what}the paired layout {_PAIRED}{self._hint(role)}")
        return AlignedDataset(
            root / split, hp.channels_A, hp.channels_B, self._transform(role == "train"), hp.square_halves,
            hp.float_range,
        )
