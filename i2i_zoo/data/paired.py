"""The paired layout (pix2pix): ``root/train/``, ``root/val/``, ``root/test/`` holding
side-by-side AB images, or ``root/A/<split>/`` and ``root/B/<split>/`` holding the two sides
under matching names (the input of pix2pix's ``combine_A_and_B.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import albumentations as A
import torch

from i2i_zoo.data.base import (
    ARGUMENTS,
    _apply,
    _check_channels,
    _PreprocessedDataModule,
    _resize_to,
    _SideBySideDataset,
    document_arguments,
)
from i2i_zoo.data.io import list_images, read_image, require_folder, to_tensor
from i2i_zoo.data.stream import _RandomDataset

_PAIRED = (
    "(root/train/, root/val/, root/test/ holding side-by-side AB images, or with data.layout: "
    "folders root/A/<split>/ and root/B/<split>/ holding A and B images of matching names)"
)
PAIRED_LAYOUTS = ("side_by_side", "folders")
PairedLayout = Literal[PAIRED_LAYOUTS]


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


class TwoFolderPairedDataset(_RandomDataset):
    """Aligned pairs from two folders: each A image with the B image of the same relative path.

    A name on one side only is an error listing a few such names. A B image whose size differs
    from its A image's is resized to it. ``transform`` is called as ``transform(image=a, B=b)``
    so both get the same crop and flip. ``float_range`` is passed to
    :func:`~i2i_zoo.data.io.read_image`.
    """

    def __init__(
        self,
        folder_A: str | os.PathLike,
        folder_B: str | os.PathLike,
        channels_A: int = 3,
        channels_B: int = 3,
        transform: A.Compose | None = None,
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        _check_channels(channels_A=channels_A, channels_B=channels_B)
        folder_A, folder_B = Path(folder_A), Path(folder_B)
        paths_A = list_images(folder_A, "a folder of domain A images (paired layout: folders)")
        paths_B = list_images(folder_B, "a folder of domain B images (paired layout: folders)")
        names_A = {path.relative_to(folder_A): path for path in paths_A}
        names_B = {path.relative_to(folder_B): path for path in paths_B}
        for side, names, other in (("A", names_A, names_B), ("B", names_B, names_A)):
            unmatched = sorted(str(name) for name in names.keys() - other.keys())
            if unmatched:
                shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
                raise ValueError(
                    f"{len(unmatched)} image(s) in {side}'s folder have no namesake in the other "
                    f"({shown}): the paired folders layout pairs {folder_A} and {folder_B} by file name"
                )
        self.pairs = [(names_A[name], names_B[name]) for name in sorted(names_A)]
        self.channels_A, self.channels_B = channels_A, channels_B
        self.transform, self.float_range = transform, float_range

    def __len__(self) -> int:
        return len(self.pairs)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path_a, path_b = self.pairs[index]
        a = read_image(path_a, self.channels_A, option="data.channels_A", float_range=self.float_range)
        b = read_image(path_b, self.channels_B, option="data.channels_B", float_range=self.float_range)
        if b.shape[:2] != a.shape[:2]:
            b = _resize_to(b, *a.shape[:2])
        out = _apply(self.transform, path_a, generator, image=a, B=b)
        return {"A": to_tensor(out["image"]), "B": to_tensor(out["B"]), "A_path": str(path_a), "B_path": str(path_b)}


@document_arguments(
    layout="``side_by_side`` (``<split>/`` images, A left half | B right half) or ``folders`` "
    "(``A/<split>/`` and ``B/<split>/``, pairs matched by file name; a B image of another size "
    "than its A image is resized to it).",
    square_halves=f"(``side_by_side`` layout) {ARGUMENTS['square_halves']}",
)
class PairedDataModule(_PreprocessedDataModule):
    """Aligned pairs in the pix2pix layout: ``root/train/``, ``root/val/``, ``root/test/``
    holding side-by-side AB images (A left half, B right half).

    With ``layout: folders`` the two sides live apart, as pix2pix's ``combine_A_and_B.py``
    takes them: ``root/A/<split>/`` and ``root/B/<split>/`` (splits ``train``, ``val_split``,
    ``test_split``) with the same file names on both sides. An image without a namesake on the
    other side is an error; a B image whose size differs from its A image's is resized to A's.
    Both layouts give the two sides the same crop, flip and ``augmentations``. The demo roots
    (``demo:<name>``) are side by side.
    """

    demo_layout = "paired"
    _layout_hint = _PAIRED

    def __init__(
        self,
        root: str | None = None,
        layout: PairedLayout = "side_by_side",
        channels_A: int = 3,
        channels_B: int = 3,
        val_split: str | None = "val",
        test_split: str | None = "test",
        square_halves: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def _check_options(self) -> None:
        super()._check_options()
        if self.hparams.layout not in PAIRED_LAYOUTS:
            raise ValueError(f"data.layout={self.hparams.layout!r} is unknown; use one of {PAIRED_LAYOUTS}")

    def _dataset(self, root: Path, role: str, split: str) -> AlignedDataset | TwoFolderPairedDataset:
        hp = self.hparams
        what = {"train": "", "val": "the validation split of ", "test": "the test split of "}[role]
        transform = self._transform(role == "train")
        if hp.layout == "folders":
            folders = (root / "A" / split, root / "B" / split)
            for folder in folders:
                require_folder(folder, f"{what}the paired layout {_PAIRED}{self._hint(role)}")
            return TwoFolderPairedDataset(*folders, hp.channels_A, hp.channels_B, transform, hp.float_range)
        require_folder(root / split, f"{what}the paired layout {_PAIRED}{self._hint(role)}")
        return AlignedDataset(
            root / split, hp.channels_A, hp.channels_B, transform, hp.square_halves,
            hp.float_range,
        )
