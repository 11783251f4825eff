"""The reference-pair layout (reference-guided translation, e.g. makeup): source images with
reference images, from two folders per split or side by side, optionally aligned by affine
warps."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Literal

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from i2i_zoo.data.base import (
    ARGUMENTS,
    _apply,
    _check_channels,
    _PreprocessedDataModule,
    _SideBySideDataset,
    _resize_to,
    document_arguments,
)
from i2i_zoo.data.io import list_images, read_image, require_folder, to_tensor
from i2i_zoo.data.stream import _RandomDataset

_REFERENCE = (
    "(root/<split>/source/ and root/<split>/reference/, or with data.layout: side_by_side "
    "root/<split>/ holding source|reference images; splits train, val, test)"
)
REFERENCE_LAYOUTS = ("folders", "side_by_side")
ReferenceLayout = Literal[REFERENCE_LAYOUTS]
WARP_BORDERS = ("replicate", "source")
WarpBorder = Literal[WARP_BORDERS]


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
        self, reference: np.ndarray, reference_path: Path, source_path: Path, size: tuple[int, int],
        fill: np.ndarray | None = None,
    ) -> np.ndarray:
        """Warp ``reference`` onto the pixel grid of its source, ``size`` = (width, height):
        reference pixels go to the canonical frame, then back by the source's inverse map.
        Bilinear. Where the warp leaves pixels uncovered, ``fill`` (the source image) shows
        through, as in the SPL authors' pairs; without it edges are replicated, because
        reflecting would mirror features such as eyes into the border."""
        to_source = (np.linalg.inv(self.matrices[source_path]) @ self.matrices[reference_path])[:2]
        shape = (size[1], size[0], reference.shape[2])
        if fill is None:
            warped = cv2.warpAffine(reference, to_source, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            return warped.reshape(shape)
        # Outside taps count as 0, so ``warped`` is the covered share of each pixel and ``cover`` its
        # weight; filling the rest from the source blends the bilinear edge instead of darkening
        # it (the authors' test for exact zeros leaves that dark seam) or cutting it at a threshold.
        warped = cv2.warpAffine(reference, to_source, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        ones = np.ones(reference.shape[:2], np.float32)
        cover = cv2.warpAffine(ones, to_source, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return warped.reshape(shape) + (1.0 - np.clip(cover, 0.0, 1.0))[:, :, None] * fill


def draw_pairs(sources: int, references: int, per_source: int, seed: int) -> list[tuple[int, int]]:
    """``per_source`` distinct reference indices for each source index, drawn once from ``seed``
    (the SPL authors' fixed training pairs): ``(source, reference)`` in source order."""
    if per_source > references:
        raise ValueError(
            f"data.pairs_per_source={per_source} exceeds the {references} references: each source's "
            "references are distinct, so use at most that many"
        )
    generator = torch.Generator().manual_seed(seed)
    return [
        (source, reference)
        for source in range(sources)
        for reference in torch.randperm(references, generator=generator)[:per_source].tolist()
    ]


class ReferencePairDataset(_RandomDataset):
    """Source images, each with a reference image (e.g. a makeup style), from two folders.

    Its length is the number of sources; item ``i`` takes source ``i`` and a random reference
    (from the data stream) or, with ``random_pairing=False``, reference ``i % len(references)``
    (names sorted). With ``pairs_per_source`` it has one item per fixed pair instead, the
    pairs (``pairs``) drawn once from ``pairing_seed`` by :func:`draw_pairs`. With ``warps``,
    every source and reference needs a row and the reference is warped onto its source's pixel
    grid, the pixels it does not cover taken from the source when ``warp_border`` is ``source``
    (edges replicated when ``replicate``); otherwise a reference of another size is resized to
    the source's.
    ``transform`` is called as ``transform(image=source, B=reference)``, so both get the same
    crop and flip. ``float_range`` is passed to :func:`~i2i_zoo.data.io.read_image`.
    """

    def __init__(
        self,
        source_folder: str | os.PathLike,
        reference_folder: str | os.PathLike,
        channels: int = 3,
        transform: A.Compose | None = None,
        random_pairing: bool = True,
        warps: AffineWarps | None = None,
        float_range: tuple[float, float] = (0.0, 1.0),
        pairs_per_source: int | None = None,
        pairing_seed: int = 0,
        warp_border: WarpBorder = "replicate",
    ) -> None:
        _check_channels(channels=channels)
        self.source_paths = list_images(source_folder, "a folder of source images")
        self.reference_paths = list_images(reference_folder, "a folder of reference images")
        if warps is not None:
            warps.require(self.source_paths + self.reference_paths)
        self.channels, self.transform = channels, transform
        self.random_pairing, self.warps, self.float_range = random_pairing, warps, float_range
        self.pairs = (
            None if pairs_per_source is None
            else draw_pairs(len(self.source_paths), len(self.reference_paths), pairs_per_source, pairing_seed)
        )
        self.warp_border = warp_border

    def __len__(self) -> int:
        return len(self.source_paths) if self.pairs is None else len(self.pairs)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        if self.pairs is not None:
            index, reference_index = self.pairs[index]
        elif self.random_pairing:
            reference_index = int(torch.randint(len(self.reference_paths), (), generator=generator))
        else:
            reference_index = index % len(self.reference_paths)
        source_path, reference_path = self.source_paths[index], self.reference_paths[reference_index]
        source = read_image(source_path, self.channels, option="data.channels", float_range=self.float_range)
        reference = read_image(reference_path, self.channels, option="data.channels", float_range=self.float_range)
        height, width = source.shape[:2]
        if self.warps is not None:
            fill = source if self.warp_border == "source" else None
            reference = self.warps.align(reference, reference_path, source_path, (width, height), fill)
        elif reference.shape[:2] != (height, width):
            reference = _resize_to(reference, height, width)
        out = _apply(self.transform, source_path, generator, image=source, B=reference)
        return {"source": to_tensor(out["image"]), "reference": to_tensor(out["B"]),
                "source_path": str(source_path), "reference_path": str(reference_path)}


class SideBySideReferenceDataset(_SideBySideDataset):
    """Side-by-side images, source left half and reference right half (pix2pix's AB files);
    ``transform`` gives both halves the same crop and flip. With ``square_halves`` a file must be
    twice as wide as high; ``float_range`` is passed to :func:`~i2i_zoo.data.io.read_image`."""

    halves = ("source", "reference")

    def __init__(
        self,
        folder: str | os.PathLike,
        channels: int = 3,
        transform: A.Compose | None = None,
        square_halves: bool = True,
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__(
            folder, (channels, channels), ("data.channels", "data.channels"), transform,
            "a folder of side-by-side source|reference images", square_halves, float_range,
        )


@document_arguments(
    layout="``folders`` (``<split>/source/`` and ``<split>/reference/``) or ``side_by_side`` "
    "(``<split>/`` images, source left half | reference right half).",
    source_folder="name of the source subfolder of each split (``folders`` layout).",
    reference_folder="name of the reference subfolder of each split (``folders`` layout).",
    random_pairing="pair each training source with a random reference, drawn anew each epoch; if "
    "false, and always in evaluation, source ``i`` gets reference ``i % len(references)`` (names "
    "sorted). Must be false with ``pairs_per_source``.",
    pairs_per_source="the SPL authors' fixed pairs: give each training source this many distinct "
    "references, drawn once from ``pairing_seed`` and kept for the whole run (on every process "
    "and after a resume); the training set then has ``sources * pairs_per_source`` items. Needs "
    "``random_pairing: false`` and the ``folders`` layout. Evaluation keeps pairing by index.",
    pairing_seed="the seed ``pairs_per_source`` draws its pairs from, apart from the run's seed, "
    "so the pairs are a fixed property of the data, like a written pairs folder.",
    warps_file="a CSV relative to root (columns ``path,a11,a12,a13,a21,a22,a23``, path relative to "
    "root) of the affine map from each image's pixel coordinates (x, y) to a shared canonical "
    "frame (e.g. from face landmarks); each reference is then warped onto its source before "
    "cropping. ``folders`` layout only.",
    warp_border="what fills the pixels a warped reference does not cover: ``replicate`` its edge "
    "pixels, or ``source`` the source's pixels there (as the SPL authors' pairs; the bilinear "
    "edge is blended). Needs ``warps_file``.",
    predict_reference="the reference image ``predict`` gives every source (resized to each "
    "source's size). Swapping roles removes a style: made-up faces as the sources and a bare face "
    "as the reference.",
    square_halves=f"(``side_by_side`` layout) {ARGUMENTS['square_halves']}",
)
class ReferencePairDataModule(_PreprocessedDataModule):
    """Source images with reference images, for reference-guided translation (e.g. makeup).

    ``layout: folders`` reads ``root/<split>/source/`` and ``root/<split>/reference/`` (folder
    names are options); ``layout: side_by_side`` reads ``root/<split>/`` images holding the
    source in the left half and the reference in the right. Splits: ``train``, ``val_split``,
    ``test_split``. Source and reference get the same crop and flip; in the ``folders`` layout a
    reference whose size differs from its source's is first resized to it. Batches hold
    ``source``, ``reference``, ``source_path``, ``reference_path``; ``predict_dir`` holds sources.
    """

    demo_layout = "reference"
    _layout_hint = _REFERENCE

    def __init__(
        self,
        root: str | None = None,
        layout: ReferenceLayout = "folders",
        source_folder: str = "source",
        reference_folder: str = "reference",
        channels: int = 3,
        random_pairing: bool = True,
        pairs_per_source: int | None = None,
        pairing_seed: int = 0,
        warps_file: str | None = None,
        warp_border: WarpBorder = "replicate",
        val_split: str | None = "val",
        test_split: str | None = "test",
        predict_reference: str | None = None,
        square_halves: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None or self.hparams.predict_reference is None:
            raise ValueError(
                "predict needs data.predict_dir (a folder of source images) and data.predict_reference "
                "(the reference image file they are rendered like)"
            )
        return self._predict_folder_loader(self.hparams.predict_reference)

    def _check_options(self) -> None:
        super()._check_options()
        hp = self.hparams
        if hp.layout not in REFERENCE_LAYOUTS:
            raise ValueError(f"data.layout={hp.layout!r} is unknown; use one of {REFERENCE_LAYOUTS}")
        if hp.warps_file is not None and hp.layout != "folders":
            raise ValueError(
                "data.warps_file needs data.layout: folders (a warps row maps one image, and a "
                "side-by-side image holds two)"
            )
        if hp.warp_border not in WARP_BORDERS:
            raise ValueError(f"data.warp_border={hp.warp_border!r} is unknown; use one of {WARP_BORDERS}")
        if hp.warp_border != "replicate" and hp.warps_file is None:
            raise ValueError(f"data.warp_border: {hp.warp_border} needs data.warps_file (it fills what a warp leaves uncovered)")
        if hp.pairs_per_source is not None:
            if isinstance(hp.pairs_per_source, bool) or not isinstance(hp.pairs_per_source, int) or hp.pairs_per_source < 1:
                raise ValueError(f"data.pairs_per_source={hp.pairs_per_source} is out of range: use an integer >= 1 or null")
            if hp.layout != "folders":
                raise ValueError("data.pairs_per_source needs data.layout: folders (side-by-side images are fixed pairs already)")
            if hp.random_pairing:
                raise ValueError(
                    "data.pairs_per_source draws each source's references once, data.random_pairing "
                    "anew each epoch: set data.random_pairing: false to train on fixed pairs"
                )

    def _dataset(self, root: Path, role: str, split: str) -> ReferencePairDataset | SideBySideReferenceDataset:
        hp = self.hparams
        folder, hint, train = root / split, self._hint(role), role == "train"
        if hp.layout == "side_by_side":
            require_folder(folder, f"the reference layout {_REFERENCE}{hint}")
            return SideBySideReferenceDataset(
                folder, hp.channels, self._transform(train), hp.square_halves, hp.float_range
            )
        folders = (folder / hp.source_folder, folder / hp.reference_folder)
        for subfolder in folders:
            require_folder(
                subfolder,
                f"the reference layout {_REFERENCE}; data.source_folder and "
                f"data.reference_folder name the subfolders{hint}",
            )
        warps = None if hp.warps_file is None else AffineWarps(root / hp.warps_file, root)
        # Fixed pairs are seeded by an option, not torch's RNG: the same on every process and after a resume.
        return ReferencePairDataset(
            *folders, hp.channels, self._transform(train), train and hp.random_pairing, warps, hp.float_range,
            hp.pairs_per_source if train else None, hp.pairing_seed, hp.warp_border,
        )
