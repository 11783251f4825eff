"""LightningDataModules for the paired (pix2pix) and unpaired (CycleGAN) folder layouts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import albumentations as A
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from i2i_zoo.data.datasets import AlignedDataset, ImageFolderDataset, UnpairedDataset
from i2i_zoo.data.io import require_folder
from i2i_zoo.data.transforms import build_transform

_PAIRED = "(root/train/, root/val/, root/test/ holding side-by-side AB images)"
_UNPAIRED = "(root/trainA/, trainB/, testA/, testB/)"


class _FolderDataModule(L.LightningDataModule):
    """Loaders, root resolution and errors shared by the folder-layout datamodules.

    A subclass sets ``layout``, calls ``super().__init__()`` first in its ``__init__`` and
    implements ``_build(stage, root)``.
    """

    layout: ClassVar[str]
    _layout_hint: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        # Lightning reads the subclass's __init__ arguments from the calling frames.
        self.save_hyperparameters()
        self._transform(train=True)  # fail on bad options at instantiation, not at setup
        # The training data stream (order, augmentations, random pairing, worker seeds) draws
        # from this generator only; checkpoints hold its state, so a resumed run replays it.
        self._train_generator = torch.Generator()
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    def _transform(self, train: bool) -> A.Compose:
        hp = self.hparams
        return build_transform(hp.load_size, hp.crop_size, hp.flip, train, hp.preprocess)

    def _build(self, stage: str, root: Path) -> None:
        raise NotImplementedError

    def prepare_data(self) -> None:
        # Generates a "demo:<name>" dataset once, on one process, before setup runs on all.
        from i2i_zoo.data.demo import resolve_root

        if self.hparams.root is not None:
            resolve_root(self.hparams.root, self.layout)

    def setup(self, stage: str | None = None) -> None:
        from i2i_zoo.data.demo import resolve_root

        if self.hparams.root is None:
            if stage == "predict":  # predict reads data.predict_dir only
                return
            raise ValueError(f"data.root is required for {stage or 'fit and test'}: the dataset folder {self._layout_hint} or demo:<name>")
        root = resolve_root(self.hparams.root, self.layout)
        for name in ("fit", "test") if stage is None else (stage,):
            self._build(name, root)
        for dataset in (self.val_dataset, self.test_dataset):
            if dataset is not None:  # evaluation never draws from torch's RNG
                dataset.generator = torch.Generator().manual_seed(0)
        if stage in (None, "fit"):
            # Seeded from torch's RNG, so seed_everything decides the stream; distinct per rank.
            self._train_generator.manual_seed(int(torch.randint(2**62, ())) + self._rank())
            self.train_dataset.generator = self._train_generator

    def _rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def state_dict(self) -> dict:
        # Every rank has its own stream and rank 0 writes the checkpoint, so it gathers them all.
        state = self._train_generator.get_state()
        if self.trainer is None or self.trainer.world_size == 1:
            return {"train_generators": state[None]}
        strategy = self.trainer.strategy
        return {"train_generators": strategy.all_gather(state.to(strategy.root_device)).cpu()}

    def load_state_dict(self, state_dict: dict) -> None:
        states = state_dict["train_generators"]
        world_size = self.trainer.world_size if self.trainer is not None else 1
        if len(states) != world_size:
            rank_zero_warn(
                f"the checkpoint holds the data streams of {len(states)} process(es), this run has "
                f"{world_size}: the training data stream restarts and the resume is not exact"
            )
            return
        self._train_generator.set_state(states[self._rank()].clone())

    def _loader(self, dataset: Dataset, shuffle: bool, batch_size: int) -> DataLoader:
        workers = self.hparams.num_workers
        # Evaluation loaders get a fixed generator so they never draw from torch's RNG.
        generator = self._train_generator if shuffle else torch.Generator().manual_seed(0)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            drop_last=False,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),
            # Fresh workers each epoch are seeded from the generator, which a checkpoint restores;
            # persistent workers would continue streams a resumed run cannot replay.
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup('fit') must run before train_dataloader()")
        return self._loader(self.train_dataset, True, self.hparams.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            return []  # no validation split: Lightning skips the validation loop
        return self._loader(self.val_dataset, False, self.hparams.batch_size)

    def test_dataloader(self) -> DataLoader:
        if self.test_dataset is None:
            raise ValueError(f"{type(self).__name__} has no test split: set data.test_split (and run setup('test'))")
        return self._loader(self.test_dataset, False, self.hparams.batch_size)

    @property
    def predict_dir(self) -> str | None:
        """The folder ``predict`` reads, user-expanded (the prediction writer mirrors it)."""
        folder = self.hparams.predict_dir
        return None if folder is None else str(Path(folder).expanduser())

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None:
            raise ValueError("set data.predict_dir to a folder of images to translate")
        dataset = ImageFolderDataset(self.predict_dir)
        return self._loader(dataset, False, batch_size=1)  # images may differ in size


class PairedDataModule(_FolderDataModule):
    """Aligned pairs in the pix2pix layout: ``root/train/``, ``root/val/``, ``root/test/``
    holding side-by-side AB images (A left half, B right half)."""

    layout = "paired"
    _layout_hint = _PAIRED

    def __init__(
        self,
        root: str | None = None,
        channels_A: int = 3,
        channels_B: int = 3,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        preprocess: str = "resize_and_crop",
        batch_size: int = 1,
        num_workers: int = 4,
        val_split: str | None = "val",
        test_split: str | None = "test",
        predict_dir: str | None = None,
        pin_memory: bool = True,
    ) -> None:
        """
        Args:
            root: dataset folder, or ``demo:<name>`` for a generated demo dataset (not needed
                for ``predict``, which reads ``predict_dir``).
            channels_A: channels of the A images (1 or 3).
            channels_B: channels of the B images (1 or 3).
            load_size: training images are resized to this square size before cropping.
            crop_size: size of the training crops; evaluation images are resized to it.
            flip: randomly flip training pairs horizontally.
            preprocess: ``resize_and_crop``, ``crop``, ``resize`` or ``none``.
            batch_size: images per batch for training, validation and testing.
            num_workers: DataLoader worker processes.
            val_split: folder under ``root`` used for validation; null for none.
            test_split: folder under ``root`` used for testing; null for none.
            predict_dir: folder of images to translate with ``predict``.
            pin_memory: pin batches in memory (only when CUDA is available).
        """
        super().__init__()

    def _build(self, stage: str, root: Path) -> None:
        hp = self.hparams
        if stage == "fit":
            self.train_dataset = self._aligned(root / "train", f"the paired layout {_PAIRED}", True)
        if stage in ("fit", "validate") and hp.val_split is not None:
            expected = (
                f"the validation split of the paired layout {_PAIRED}; "
                "set data.val_split: null to train without validation"
            )
            self.val_dataset = self._aligned(root / hp.val_split, expected, False)
        if stage == "test" and hp.test_split is not None:
            expected = f"the test split of the paired layout {_PAIRED}; see data.test_split"
            self.test_dataset = self._aligned(root / hp.test_split, expected, False)

    def _aligned(self, folder: Path, expected: str, train: bool) -> AlignedDataset:
        hp = self.hparams
        require_folder(folder, expected)
        return AlignedDataset(folder, hp.channels_A, hp.channels_B, self._transform(train))


class UnpairedDataModule(_FolderDataModule):
    """Unaligned domains in the CycleGAN layout: ``root/trainA/``, ``trainB/``, ``testA/``,
    ``testB/``. Validation and testing use ``<split>A``/``<split>B`` with fixed pairing (the
    original layout has no validation split, so both default to ``test``)."""

    layout = "unpaired"
    _layout_hint = _UNPAIRED

    def __init__(
        self,
        root: str | None = None,
        channels_A: int = 3,
        channels_B: int = 3,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        preprocess: str = "resize_and_crop",
        batch_size: int = 1,
        num_workers: int = 4,
        random_pairing: bool = True,
        val_split: str | None = "test",
        test_split: str | None = "test",
        pairs_file: str | None = None,
        predict_dir: str | None = None,
        pin_memory: bool = True,
    ) -> None:
        """
        Args:
            root: dataset folder, or ``demo:<name>`` for a generated demo dataset (not needed
                for ``predict``, which reads ``predict_dir``).
            channels_A: channels of the domain A images (1 or 3).
            channels_B: channels of the domain B images (1 or 3).
            load_size: training images are resized to this square size before cropping.
            crop_size: size of the training crops; evaluation images are resized to it.
            flip: randomly flip training images horizontally.
            preprocess: ``resize_and_crop``, ``crop``, ``resize`` or ``none``.
            batch_size: images per batch for training, validation and testing.
            num_workers: DataLoader worker processes.
            random_pairing: pair each training A image with a random B image; if false,
                pair A ``i`` with B ``i % len(B)``.
            val_split: validation reads ``root/<val_split>A`` and ``<val_split>B``; null for none.
            test_split: testing reads ``root/<test_split>A`` and ``<test_split>B``; null for none.
            pairs_file: a CSV (columns ``split,A,B``, paths relative to root; the demo datasets'
                ``pairs.csv``) of hidden true pairs: validation and test batches then also hold
                ``B_true`` and ``A_true``, the aligned counterparts, for paired metrics.
            predict_dir: folder of images to translate with ``predict``.
            pin_memory: pin batches in memory (only when CUDA is available).
        """
        super().__init__()

    def _build(self, stage: str, root: Path) -> None:
        hp = self.hparams
        if stage == "fit":
            self.train_dataset = self._unpaired(root, "train", hp.random_pairing, train=True)
        if stage in ("fit", "validate") and hp.val_split is not None:
            self.val_dataset = self._unpaired(root, hp.val_split, False, train=False)
        if stage == "test" and hp.test_split is not None:
            self.test_dataset = self._unpaired(root, hp.test_split, False, train=False)

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

    def _unpaired(
        self, root: Path, split: str, random_pairing: bool, train: bool
    ) -> UnpairedDataset:
        hp = self.hparams
        folders = [root / f"{split}{domain}" for domain in "AB"]
        for folder in folders:
            require_folder(folder, f"the unpaired layout {_UNPAIRED}; data.val_split and data.test_split name the evaluation folders")
        return UnpairedDataset(
            *folders, hp.channels_A, hp.channels_B,
            self._transform(train), self._transform(train), random_pairing,
            None if train else self._true_pairs(root, split),
        )
