"""The unpaired layout (CycleGAN): ``root/trainA/``, ``trainB/``, ``testA/``, ``testB/``, with
an optional file of the hidden true pairs for evaluation."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import albumentations as A
import numpy as np
import torch

from torch.utils.data import DataLoader

from i2i_zoo.data.base import _apply, _check_channels, _PreprocessedDataModule, document_arguments
from i2i_zoo.data.io import list_images, read_image, require_folder, to_tensor
from i2i_zoo.data.stream import _RandomDataset

_UNPAIRED = "(root/trainA/, trainB/, testA/, testB/)"


class UnpairedDataset(_RandomDataset):
    """Two unaligned folders of images, as in CycleGAN.

    Its length is the larger folder's; item ``i`` takes A ``i % len(A)`` and a random B (drawn
    from the item's generator) or, with ``random_pairing=False``, B ``i % len(B)``. A and B get
    independent random transforms. With ``true_pairs`` (A path -> its true B path, known for
    evaluation only) items also hold ``B_true`` (A's counterpart) and ``A_true`` (B's); use it
    with deterministic transforms. ``float_range`` is passed to :func:`~i2i_zoo.data.io.read_image`.
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
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        _check_channels(channels_A=channels_A, channels_B=channels_B)
        self.paths_A = list_images(folder_A, "a folder of domain A images")
        self.paths_B = list_images(folder_B, "a folder of domain B images")
        self.channels_A, self.channels_B = channels_A, channels_B
        self.transform_A, self.transform_B = transform_A, transform_B
        self.random_pairing, self.float_range = random_pairing, float_range
        self.true_B = true_pairs
        self.true_A = {b: a for a, b in true_pairs.items()} if true_pairs else None
        for path in self.paths_A if true_pairs else ():
            if path not in true_pairs:
                raise ValueError(f"{path} has no true pair in the pairs file (data.pairs_file)")

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path_a = self.paths_A[index % len(self.paths_A)]
        if self.random_pairing:
            path_b = self.paths_B[int(torch.randint(len(self.paths_B), (), generator=generator))]
        else:
            path_b = self.paths_B[index % len(self.paths_B)]
        a = self._read(path_a, "A")
        b = self._read(path_b, "B")
        a = _apply(self.transform_A, path_a, generator, image=a)["image"]
        b = _apply(self.transform_B, path_b, generator, image=b)["image"]
        item = {"A": to_tensor(a), "B": to_tensor(b), "A_path": str(path_a), "B_path": str(path_b)}
        if self.true_B is not None:
            # Evaluation only: the hidden counterpart of each image, transformed alike.
            true_b = self._read(self.true_B[path_a], "B")
            true_a = self._read(self.true_A[path_b], "A")
            item["B_true"] = to_tensor(_apply(self.transform_B, path_a, generator, image=true_b)["image"])
            item["A_true"] = to_tensor(_apply(self.transform_A, path_b, generator, image=true_a)["image"])
        return item

    def _read(self, path: Path, domain: str) -> np.ndarray:
        channels = self.channels_A if domain == "A" else self.channels_B
        return read_image(path, channels, option=f"data.channels_{domain}", float_range=self.float_range)


@document_arguments(
    random_pairing="pair each training A image with a random B image; if false, pair A ``i`` "
    "with B ``i % len(B)``.",
    val_split="validation reads ``root/<val_split>A`` and ``<val_split>B``; null for none.",
    test_split="testing reads ``root/<test_split>A`` and ``<test_split>B``; null for none.",
    pairs_file="a CSV (columns ``split,A,B``, paths relative to root; the demo datasets' "
    "``pairs.csv``) of hidden true pairs: validation and test batches then also hold ``B_true`` "
    "and ``A_true``, the aligned counterparts, for paired metrics.",
    predict_reference="an image file ``predict`` gives every input as ``reference`` (resized to each "
    "input's size), e.g. the photo whose code AsymGAN's F uses (z = E(reference)).",
)
class UnpairedDataModule(_PreprocessedDataModule):
    """Unaligned domains in the CycleGAN layout: ``root/trainA/``, ``trainB/``, ``testA/``,
    ``testB/``. Validation and testing use ``<split>A``/``<split>B`` with fixed pairing (the
    original layout has no validation split, so both default to ``test``)."""

    demo_layout = "unpaired"
    _layout_hint = _UNPAIRED

    def __init__(
        self,
        root: str | None = None,
        channels_A: int = 3,
        channels_B: int = 3,
        random_pairing: bool = True,
        val_split: str | None = "test",
        test_split: str | None = "test",
        pairs_file: str | None = None,
        predict_reference: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def predict_dataloader(self) -> DataLoader:
        if self.hparams.predict_reference is None:
            return super().predict_dataloader()
        return self._predict_folder_loader(self.hparams.predict_reference)

    def _true_pairs(self, root: Path, split: str) -> dict[Path, Path] | None:
        if self.hparams.pairs_file is None:
            return None
        path = root / self.hparams.pairs_file
        if not path.is_file():
            raise FileNotFoundError(f"data.pairs_file: {path} does not exist (a CSV with columns split,A,B)")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"split", "A", "B"} <= set(rows[0]):
            raise ValueError(f"data.pairs_file: {path} needs the columns split,A,B; it has {sorted(rows[0])}")
        return {root / row["A"]: root / row["B"] for row in rows if row["split"] == split}

    def _dataset(self, root: Path, role: str, split: str) -> UnpairedDataset:
        hp = self.hparams
        train = role == "train"
        folders = [root / f"{split}{domain}" for domain in "AB"]
        for folder in folders:
            require_folder(folder, f"the unpaired layout {_UNPAIRED}; data.val_split and data.test_split name the evaluation folders")
        return UnpairedDataset(
            *folders, hp.channels_A, hp.channels_B,
            self._transform(train), self._transform(train), train and hp.random_pairing,
            None if train else self._true_pairs(root, split), hp.float_range,
        )
