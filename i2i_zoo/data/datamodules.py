"""LightningDataModules for the paired (pix2pix), unpaired (CycleGAN), super-resolution (DIV2K),
reference-pair and multi-domain (StarGAN, GANimation) folder layouts."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import albumentations as A
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from i2i_zoo.data.datasets import (
    AffineWarps,
    AlignedDataset,
    ImageFolderDataset,
    MultiDomainDataset,
    ReferencePairDataset,
    SideBySideReferenceDataset,
    SuperResolutionDataset,
    UnpairedDataset,
    aligned_domain_paths,
    check_scale,
    read_au_conditions,
    read_celeba_attributes,
    read_condition_csv,
    read_domain_folders,
)
from i2i_zoo.data.degradations import Degradation, make_degradation
from i2i_zoo.data.io import require_folder
from i2i_zoo.data.transforms import build_transform, resize_square
from i2i_zoo.distributed import gather_per_rank, own_rank_state, world

_PAIRED = "(root/train/, root/val/, root/test/ holding side-by-side AB images)"
_UNPAIRED = "(root/trainA/, trainB/, testA/, testB/)"
_SUPER_RESOLUTION = (
    "(by default root/DIV2K_train_HR/0001.png with root/DIV2K_train_LR_bicubic/X4/0001x4.png, "
    "DIV2K_valid_* alike)"
)
_REFERENCE = (
    "(root/<split>/source/ and root/<split>/reference/, or with data.layout: side_by_side "
    "root/<split>/ holding source|reference images; splits train, val, test)"
)
REFERENCE_LAYOUTS = ("folders", "side_by_side")


class _StreamSampler(DistributedSampler):
    """Training keys ``(index, seed)`` for a ``_RandomDataset``: this process's share of a
    permutation drawn from ``order`` (in the same state on every process), each index with a seed
    drawn from ``stream`` (this process's own). Both are the datamodule's checkpointed generators,
    so an epoch's draws depend on nothing else: not on the workers, nor on Lightning's epoch
    counter. It is a DistributedSampler because Lightning wraps any other sampler under DDP.

    For checkpoints written within an epoch it keeps the generators' states from before the
    epoch's draw (``before_draw``), and a resumed run's first epoch skips the ``skip`` samples
    that the interrupted run consumed."""

    def __init__(
        self, dataset: Dataset, order: torch.Generator, stream: torch.Generator, num_replicas: int, rank: int,
        skip: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, drop_last=False)
        self.order, self.stream = order, stream
        self.skip = skip
        self.before_draw: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_epoch(self, epoch: int) -> None:
        # Lightning calls this before each epoch (a resumed one included) and before its draw,
        # which comes with its first batch (_StreamLoader): until then, none is this epoch's.
        super().set_epoch(epoch)
        self.before_draw = None

    def __iter__(self):
        self.before_draw = (self.order.get_state(), self.stream.get_state())
        permutation = torch.randperm(len(self.dataset), generator=self.order)
        # Padded by repeating the permutation, as DistributedSampler, so every process has num_samples.
        padded = permutation.repeat(math.ceil(self.total_size / len(permutation)))[: self.total_size]
        indices = padded[self.rank : self.total_size : self.num_replicas].tolist()
        seeds = torch.randint(2**62, (len(indices),), generator=self.stream).tolist()
        skip, self.skip = self.skip, 0
        return itertools.islice(zip(indices, seeds), skip, None)


class _StreamLoader(DataLoader):
    """The training DataLoader: its iterators start, and so draw the epoch, at their first batch
    whatever the number of workers (with workers a DataLoader starts prefetching when the iterator
    is made). Lightning makes iterators it never reads, e.g. on resuming a checkpoint that
    validation wrote after an epoch's last batch: one of those must not use up an epoch's draw."""

    def __iter__(self):
        return _Deferred(super().__iter__)


class _Deferred:
    """An iterator made by ``start`` when its first item is asked for."""

    def __init__(self, start: Callable[[], Iterator]) -> None:
        self._start: Callable[[], Iterator] | None = start
        self._iterator: Iterator | None = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            self._iterator, self._start = self._start(), None
        return next(self._iterator)


def _batches_done(trainer: L.Trainer | None) -> int | None:
    """How many batches of the current training epoch a run resumed from a checkpoint written
    now will not run again, read from Lightning's record of progress as its loops read it on a
    restart (_FitLoop.reset, _TrainingEpochLoop.reset); None when that run starts a new epoch."""
    fit_loop = getattr(trainer, "fit_loop", None)
    if fit_loop is None:
        return None
    epoch = fit_loop.epoch_progress.current
    if epoch.processed >= epoch.ready:  # between epochs: written at an epoch's end, or outside training
        return None
    batches = fit_loop.epoch_loop.batch_progress.current
    # Written from on_train_batch_end (processed, not yet completed), the batch counts as done;
    # written within a batch, the batch is run again.
    done = batches.processed if batches.processed > batches.completed else batches.completed
    return done if done < trainer.num_training_batches else None  # after the last batch: a new epoch


class _FolderDataModule(L.LightningDataModule):
    """Loaders, root resolution and errors shared by the folder-layout datamodules.

    A subclass sets ``demo_layout`` (the layout of ``demo:<name>`` roots), calls
    ``super().__init__()`` first in its ``__init__`` and implements ``_check_options()`` and
    ``_build(stage, root)``.
    """

    demo_layout: ClassVar[str]
    _layout_hint: ClassVar[str]
    _test_option: ClassVar[str] = "data.test_split"

    def __init__(self) -> None:
        super().__init__()
        # Lightning reads the subclass's __init__ arguments from the calling frames.
        self.save_hyperparameters()
        self._check_options()  # fail on bad options at instantiation, not at setup
        # The training data stream draws from these two only (see _StreamSampler): the order,
        # shared by all processes, and this process's items (augmentations, random pairing).
        # Checkpoints hold their states, so a resumed run replays the stream.
        self._order_generator = torch.Generator()
        self._train_generator = torch.Generator()
        self._train_sampler: _StreamSampler | None = None  # the latest, whose draw a checkpoint may need
        self._resume_skip = 0  # samples of the next draw a resumed run skips (see _StreamSampler)
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    def _check_options(self) -> None:
        """Raise a ValueError naming the option when the hyperparameters cannot work."""
        raise NotImplementedError

    def _build(self, stage: str, root: Path) -> None:
        raise NotImplementedError

    def _eval_batch_size(self) -> int:
        return self.hparams.batch_size

    def prepare_data(self) -> None:
        # Generates a "demo:<name>" dataset once, on one process, before setup runs on all.
        from i2i_zoo.data.demo import resolve_root

        if self.hparams.root is not None:
            resolve_root(self.hparams.root, self.demo_layout)

    def setup(self, stage: str | None = None) -> None:
        from i2i_zoo.data.demo import resolve_root

        if self.hparams.root is None:
            if stage == "predict":  # predict reads data.predict_dir only
                return
            raise ValueError(f"data.root is required for {stage or 'fit and test'}: the dataset folder {self._layout_hint} or demo:<name>")
        root = resolve_root(self.hparams.root, self.demo_layout)
        for name in ("fit", "test") if stage is None else (stage,):
            self._build(name, root)
        if stage in (None, "fit"):
            # Seeded from torch's RNG, so seed_everything decides the stream; items distinct per rank.
            order_seed, stream_seed = torch.randint(2**62, (2,)).tolist()
            self._order_generator.manual_seed(order_seed)
            self._train_generator.manual_seed(stream_seed + world(self.trainer)[1])

    def state_dict(self) -> dict:
        # The generator states the next epoch draws from, and the samples of that epoch already
        # consumed: after an epoch, the current states and 0; within one, the states from before
        # its draw and the batches that Lightning counts as done, so the resumed run redraws the
        # epoch and goes on where this one stopped. Every rank has its own stream and rank 0
        # writes the checkpoint, so it gathers them all.
        sampler, done = self._train_sampler, None
        if sampler is not None and sampler.before_draw is not None:
            done = _batches_done(self.trainer)
        if done is not None:
            (order, items), consumed = sampler.before_draw, done * self.hparams.batch_size
        else:  # no draw this epoch yet (one pending from a resume, if any) or none to redo
            order, items = self._order_generator.get_state(), self._train_generator.get_state()
            consumed = sampler.skip if sampler is not None else self._resume_skip
        return {
            "order_generator": order,
            "train_generators": torch.stack(gather_per_rank(self.trainer, items)),
            "consumed_samples": consumed,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if "order_generator" in state_dict:
            self._order_generator.set_state(state_dict["order_generator"].clone())
        else:
            rank_zero_warn("the checkpoint predates the checkpointed data order: the order restarts and the resume is not exact")
        state = own_rank_state(self.trainer, state_dict["train_generators"], "training data streams")
        if state is not None:
            self._train_generator.set_state(state.clone())
        # Absent from older checkpoints, which resume at an epoch's start as they always did.
        self._resume_skip = int(state_dict.get("consumed_samples", 0))
        self._train_sampler = None

    def _loader(self, dataset: Dataset, batch_size: int, sampler: _StreamSampler | None = None) -> DataLoader:
        workers = self.hparams.num_workers
        return (DataLoader if sampler is None else _StreamLoader)(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            # Items take their randomness from their keys; this generator only keeps the loader's
            # own draw (its workers' base seed) off torch's RNG.
            generator=torch.Generator().manual_seed(0),
            drop_last=False,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup('fit') must run before train_dataloader()")
        sampler = _StreamSampler(
            self.train_dataset, self._order_generator, self._train_generator, *world(self.trainer), skip=self._resume_skip
        )
        self._train_sampler, self._resume_skip = sampler, 0
        return self._loader(self.train_dataset, self.hparams.batch_size, sampler)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            return []  # no validation split: Lightning skips the validation loop
        return self._loader(self.val_dataset, self._eval_batch_size())

    def test_dataloader(self) -> DataLoader:
        if self.test_dataset is None:
            raise ValueError(f"{type(self).__name__} has no test split: set {self._test_option} (and run setup('test'))")
        return self._loader(self.test_dataset, self._eval_batch_size())

    @property
    def predict_dir(self) -> str | None:
        """The folder ``predict`` reads, user-expanded (the prediction writer mirrors it)."""
        folder = self.hparams.predict_dir
        return None if folder is None else str(Path(folder).expanduser())

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None:
            raise ValueError("set data.predict_dir to a folder of images to translate")
        dataset = ImageFolderDataset(self.predict_dir)
        return self._loader(dataset, batch_size=1)  # images may differ in size


class _PreprocessedDataModule(_FolderDataModule):
    """A folder datamodule with pix2pix's preprocessing options (``load_size``, ``crop_size``,
    ``flip``, ``preprocess``)."""

    def _check_options(self) -> None:
        self._transform(train=True)

    def _transform(self, train: bool) -> A.Compose:
        hp = self.hparams
        return build_transform(hp.load_size, hp.crop_size, hp.flip, train, hp.preprocess)


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


class SuperResolutionDataModule(_FolderDataModule):
    """Super-resolution: HR images with LR images ``scale`` times smaller (DIV2K layout).

    ``root/DIV2K_train_HR/0001.png`` with ``root/DIV2K_train_LR_bicubic/X4/0001x4.png`` (or
    ``0001.png``; any image extension), and ``DIV2K_valid_HR/``, ``DIV2K_valid_LR_bicubic/X4/``
    for validation and testing (DIV2K's test HR images are not public). Every folder is an
    option relative to root; a null LR folder makes the LR images from the HR ones with
    ``degradation``. HR images are cropped to multiples of ``scale``. Batches hold ``lr``,
    ``hr``, ``lr_path``, ``hr_path``.
    """

    demo_layout = "super_resolution"
    _layout_hint = _SUPER_RESOLUTION
    _test_option = "data.test_hr"
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
        degradation: str = "bicubic",
        blur_sigma: float = 1.6,
        noise_sigma: float = 10.0,
        max_shift: float = 0.5,
        patch_size: int = 96,
        augment: bool = True,
        batch_size: int = 16,
        eval_batch_size: int = 1,
        num_workers: int = 4,
        predict_dir: str | None = None,
        pin_memory: bool = True,
    ) -> None:
        """
        Args:
            root: dataset folder, or ``demo:<name>`` for a generated demo dataset (not needed
                for ``predict``, which reads ``predict_dir``).
            scale: upscaling factor: LR images are ``scale`` times smaller than HR ones.
            channels: channels of the images (1 or 3).
            train_hr: folder of the training HR images, relative to root.
            train_lr: folder of the training LR images (``{scale}`` is filled in); the LR
                partner of ``0001.png`` is ``0001x<scale>.*`` or ``0001.*``. Null makes the LR
                images from the HR ones with ``degradation``.
            val_hr: folder of the validation HR images; null for no validation.
            val_lr: folder of the validation LR images, as ``train_lr``.
            test_hr: folder of the test HR images; null for no test split.
            test_lr: folder of the test LR images, as ``train_lr``.
            degradation: how a null LR folder's images are made: ``bicubic`` (MATLAB's
                antialiased bicubic downscaling, as DIV2K's), ``blur_bicubic`` (Gaussian blur of
                ``blur_sigma``, then bicubic), ``noise`` (bicubic, then Gaussian noise of
                ``noise_sigma``) or ``shift`` (the HR image shifted by up to ``max_shift`` LR
                pixels, then bicubic). Random ones draw anew in training and are fixed per
                image in evaluation.
            blur_sigma: standard deviation of the ``blur_bicubic`` blur, in HR pixels.
            noise_sigma: standard deviation of the ``noise`` noise, in 8-bit units (0-255).
            max_shift: largest ``shift`` in x and y, in LR pixels.
            patch_size: side of the square training HR patches (a multiple of ``scale``); the
                LR patches are ``patch_size / scale``.
            augment: randomly flip and rotate (by multiples of 90 degrees) training patches.
            batch_size: patches per training batch.
            eval_batch_size: images per validation and test batch (whole images; more than 1
                needs images of one size).
            num_workers: DataLoader worker processes.
            predict_dir: folder of LR images to upscale with ``predict``.
            pin_memory: pin batches in memory (only when CUDA is available).
        """
        super().__init__()

    def _check_options(self) -> None:
        check_scale(self.hparams.scale, self.hparams.patch_size)
        self._degradation()
        for option in self._FOLDER_OPTIONS:
            self._folder(option)

    def _eval_batch_size(self) -> int:
        return self.hparams.eval_batch_size

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

    def _build(self, stage: str, root: Path) -> None:
        hp = self.hparams
        if stage == "fit":
            self.train_dataset = self._dataset(root, "train")
        if stage in ("fit", "validate") and hp.val_hr is not None:
            self.val_dataset = self._dataset(root, "val")
        if stage == "test" and hp.test_hr is not None:
            self.test_dataset = self._dataset(root, "test")

    def _dataset(self, root: Path, split: str) -> SuperResolutionDataset:
        hp = self.hparams
        hint = "; set data.val_hr: null to train without validation" if split == "val" else ""
        hr_folder = root / self._folder(f"{split}_hr")
        require_folder(
            hr_folder, f"the HR images (data.{split}_hr) of the super-resolution layout {_SUPER_RESOLUTION}{hint}"
        )
        lr_name = self._folder(f"{split}_lr")
        lr_folder = None if lr_name is None else require_folder(
            root / lr_name,
            f"the LR images (data.{split}_lr) of the super-resolution layout {_SUPER_RESOLUTION}; "
            f"set data.{split}_lr: null to make them from the HR images with data.degradation",
        )
        return SuperResolutionDataset(
            hr_folder, lr_folder, hp.scale, hp.channels, self._degradation(),
            train=split == "train", patch_size=hp.patch_size, augment=hp.augment,
        )


class ReferencePairDataModule(_PreprocessedDataModule):
    """Source images with reference images, for reference-guided translation (e.g. makeup).

    ``layout: folders`` reads ``root/<split>/source/`` and ``root/<split>/reference/`` (folder
    names are options); ``layout: side_by_side`` reads ``root/<split>/`` images holding the
    source in the left half and the reference in the right. Splits: ``train``, ``val_split``,
    ``test_split``. Source and reference get the same crop and flip. Batches hold ``source``,
    ``reference``, ``source_path``, ``reference_path``.
    """

    demo_layout = "reference"
    _layout_hint = _REFERENCE

    def __init__(
        self,
        root: str | None = None,
        layout: str = "folders",
        source_folder: str = "source",
        reference_folder: str = "reference",
        channels: int = 3,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        preprocess: str = "resize_and_crop",
        batch_size: int = 1,
        num_workers: int = 4,
        random_pairing: bool = True,
        warps_file: str | None = None,
        val_split: str | None = "val",
        test_split: str | None = "test",
        predict_dir: str | None = None,
        predict_reference: str | None = None,
        pin_memory: bool = True,
    ) -> None:
        """
        Args:
            root: dataset folder, or ``demo:<name>`` for a generated demo dataset (not needed
                for ``predict``, which reads ``predict_dir``).
            layout: ``folders`` (``<split>/source/`` and ``<split>/reference/``) or
                ``side_by_side`` (``<split>/`` images, source left half | reference right half).
            source_folder: name of the source subfolder of each split (``folders`` layout).
            reference_folder: name of the reference subfolder of each split (``folders`` layout).
            channels: channels of the images (1 or 3).
            load_size: training images are resized to this square size before cropping.
            crop_size: size of the training crops; evaluation images are resized to it.
            flip: randomly flip training pairs horizontally.
            preprocess: ``resize_and_crop``, ``crop``, ``resize`` or ``none``. In the ``folders``
                layout, a reference whose size differs from its source's is first resized to it.
            batch_size: pairs per batch for training, validation and testing.
            num_workers: DataLoader worker processes.
            random_pairing: pair each training source with a random reference; if false, and
                always in evaluation, source ``i`` gets reference ``i % len(references)`` (names
                sorted).
            warps_file: a CSV relative to root (columns ``path,a11,a12,a13,a21,a22,a23``, path
                relative to root) of the affine map from each image's pixel coordinates (x, y)
                to a shared canonical frame (e.g. from face landmarks); each reference is then
                warped onto its source before cropping. ``folders`` layout only.
            val_split: folder under ``root`` used for validation; null for none.
            test_split: folder under ``root`` used for testing; null for none.
            predict_dir: folder of source images to translate with ``predict``.
            predict_reference: the reference image ``predict`` gives every source (resized to
                each source's size). Swapping roles removes a style: made-up faces as the
                sources and a bare face as the reference.
            pin_memory: pin batches in memory (only when CUDA is available).
        """
        super().__init__()

    def predict_dataloader(self) -> DataLoader:
        if self.predict_dir is None or self.hparams.predict_reference is None:
            raise ValueError(
                "predict needs data.predict_dir (a folder of source images) and data.predict_reference "
                "(the reference image file they are rendered like)"
            )
        reference = Path(self.hparams.predict_reference).expanduser()
        if not reference.is_file():
            raise FileNotFoundError(f"data.predict_reference: {reference} is not an image file")
        dataset = ImageFolderDataset(self.predict_dir, reference)
        return self._loader(dataset, batch_size=1)  # images may differ in size

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

    def _build(self, stage: str, root: Path) -> None:
        hp = self.hparams
        warps = None if hp.warps_file is None else AffineWarps(root / hp.warps_file, root)
        if stage == "fit":
            self.train_dataset = self._pairs(root / "train", warps, True, "")
        if stage in ("fit", "validate") and hp.val_split is not None:
            hint = "; set data.val_split: null to train without validation"
            self.val_dataset = self._pairs(root / hp.val_split, warps, False, hint)
        if stage == "test" and hp.test_split is not None:
            self.test_dataset = self._pairs(root / hp.test_split, warps, False, "; see data.test_split")

    def _pairs(
        self, folder: Path, warps: AffineWarps | None, train: bool, hint: str
    ) -> ReferencePairDataset | SideBySideReferenceDataset:
        hp = self.hparams
        if hp.layout == "side_by_side":
            require_folder(folder, f"the reference layout {_REFERENCE}{hint}")
            return SideBySideReferenceDataset(folder, hp.channels, self._transform(train))
        folders = (folder / hp.source_folder, folder / hp.reference_folder)
        for subfolder in folders:
            require_folder(
                subfolder,
                f"the reference layout {_REFERENCE}; data.source_folder and "
                f"data.reference_folder name the subfolders{hint}",
            )
        return ReferencePairDataset(
            *folders, hp.channels, self._transform(train), train and hp.random_pairing, warps
        )


MULTI_DOMAIN_LAYOUTS = ("folders", "celeba", "ganimation", "csv")
_LABEL_TYPES = {"folders": "exclusive", "celeba": "attributes", "ganimation": "continuous", "csv": "continuous"}
# Each layout's default images folder and labels file (relative to root), and crop.
_DEFAULT_FILES = {"celeba": ("images", "list_attr_celeba.txt"), "ganimation": ("imgs", "aus_openface.pkl")}
_DEFAULT_CROP = {"celeba": 178}  # the original StarGAN's CelebA crop (faces in 178x218 images)
_DEMO_LAYOUTS = {"folders": "multi_domain", "csv": "conditions"}
_MULTI_DOMAIN = (
    "(data.layout folders: root/<split>/<domain>/; celeba: root/images/ + root/list_attr_celeba.txt; "
    "ganimation: root/imgs/ + root/aus_openface.pkl + root/<split>_ids.csv; csv: root/<split>.csv)"
)
_DOMAINS_ARE = {
    "folders": "the domain folder names",
    "celeba": "the attribute names",
    "ganimation": "the action-unit names, one per intensity",
    "csv": "the condition column names",
}


class MultiDomainDataModule(_FolderDataModule):
    """Images with domain labels, for multi-domain translation (StarGAN, GANimation).

    Layouts (``layout``), each with splits ``train``, ``val_split`` and ``test_split``:

    - ``folders`` (StarGAN's RaFD): ``root/<split>/<domain>/`` images for each of ``domains``
      (other folders are not read). ``label``: int64 index into ``domains`` (exclusive domains).
    - ``celeba``: ``root/images/`` and ``root/list_attr_celeba.txt``; ``domains`` picks the
      attributes. Splits ``train`` and ``test`` are the original StarGAN's (the lines shuffled
      with seed 1234, 1999 test images). ``label``: float32 0/1 per attribute (1 -> 1, -1 -> 0).
    - ``ganimation``: ``root/imgs/``, ``root/aus_openface.pkl`` (id -> action-unit
      intensities in [0, 5]) and ``root/<split>_ids.csv`` (``train_ids.csv``,
      ``test_ids.csv``). ``label``: float32 intensities / 5, in [0, 1]. Ids without conditions
      are left out, as in the original; ids without images are an error.
    - ``csv``: ``root/<split>.csv`` with a ``path`` column (relative to root) and the number
      columns ``domains``. ``label``: float32 vector of those columns.

    Images are center-cropped (``center_crop``), resized to ``image_size`` squared (area when
    shrinking, bicubic when enlarging) and, for training, flipped horizontally at random.
    Batches hold ``image`` (N, 3, image_size, image_size), ``label`` ((N,) or (N, C)) and
    ``path``; with ``aligned_evaluation`` (folders), evaluation batches also hold
    ``image_true`` (N, K, 3, image_size, image_size): each image's scene in all K domains.
    ``demo:tints`` (folders) and ``demo:levels`` (csv) are built-in demo datasets.
    """

    _layout_hint = _MULTI_DOMAIN

    def __init__(
        self,
        root: str | None = None,
        layout: str = "folders",
        domains: list[str] | None = None,
        image_size: int = 128,
        center_crop: int | None = None,
        flip: bool = True,
        batch_size: int = 16,
        num_workers: int = 4,
        val_split: str | None = "test",
        test_split: str | None = "test",
        images_folder: str | None = None,
        labels_file: str | None = None,
        predict_dir: str | None = None,
        pin_memory: bool = True,
        aligned_evaluation: bool = False,
    ) -> None:
        """
        Args:
            root: dataset folder, or ``demo:<name>`` for a generated demo dataset (``tints``
                in the folders layout, ``levels`` in the csv layout; not needed for
                ``predict``, which reads ``predict_dir``).
            layout: ``folders``, ``celeba``, ``ganimation`` or ``csv`` (see the class docs).
            domains: in label order, the domain folder names (folders), attribute names
                (celeba), action-unit names, one per intensity (ganimation), or condition
                columns (csv). Required.
            image_size: images are resized to this square size.
            center_crop: side of the square center crop taken before resizing; null for the
                layout's default: 178 for celeba (the original's), no crop for the others.
            flip: randomly flip training images horizontally.
            batch_size: images per batch for training, validation and testing.
            num_workers: DataLoader worker processes.
            val_split: the split used for validation (a folder, ``<split>_ids.csv`` or
                ``<split>.csv``; celeba: ``train`` or ``test``); null for none.
            test_split: the split used for testing, as ``val_split``; null for none.
            images_folder: the images folder under root (celeba: default ``images``;
                ganimation: default ``imgs``).
            labels_file: the labels file under root (celeba: default ``list_attr_celeba.txt``;
                ganimation: default ``aus_openface.pkl``).
            predict_dir: folder of images to translate with ``predict``.
            pin_memory: pin batches in memory (only when CUDA is available).
            aligned_evaluation: (folders layout) the evaluation splits hold every scene in every
                domain under the same file name (renderings, or photographs of one pose), so
                translations are scored against the true ones (L1, PSNR, SSIM).
        """
        super().__init__()

    @property
    def label_type(self) -> str:
        """``exclusive`` (one domain index per image), ``attributes`` (0/1 per domain) or
        ``continuous`` (a number per domain), from the layout."""
        return _LABEL_TYPES[self.hparams.layout]

    @property
    def demo_layout(self) -> str:
        # celeba and ganimation have no demo (_check_options rejects demo roots for them).
        return _DEMO_LAYOUTS.get(self.hparams.layout, "multi_domain")

    def _check_options(self) -> None:
        hp = self.hparams
        if hp.layout not in MULTI_DOMAIN_LAYOUTS:
            raise ValueError(f"data.layout={hp.layout!r} is unknown; use one of {MULTI_DOMAIN_LAYOUTS}")
        if hp.domains is None or isinstance(hp.domains, str) or not hp.domains:
            raise ValueError(
                f"data.domains is required: a list of {_DOMAINS_ARE[hp.layout]}, in label order "
                f"(layout {hp.layout}), got {hp.domains!r}"
            )
        if len(set(hp.domains)) < len(hp.domains):
            raise ValueError(f"data.domains={list(hp.domains)} names a domain twice")
        if hp.layout not in _DEFAULT_FILES:
            for option in ("images_folder", "labels_file"):
                if hp[option] is not None:
                    raise ValueError(f"data.{option} applies to the celeba and ganimation layouts, not {hp.layout}")
        if hp.aligned_evaluation and hp.layout != "folders":
            raise ValueError(f"data.aligned_evaluation applies to the folders layout, not {hp.layout}")
        if hp.layout == "celeba":
            for option in ("val_split", "test_split"):
                if hp[option] not in (None, "train", "test"):
                    raise ValueError(f"data.{option}={hp[option]!r}: CelebA's splits are train and test (or null for none)")
        if isinstance(hp.root, str) and hp.root.startswith("demo:") and hp.layout not in _DEMO_LAYOUTS:
            raise ValueError(
                f"data.root={hp.root}: the demo datasets come in the folders (demo:tints) and csv "
                f"(demo:levels) layouts, not {hp.layout}"
            )
        if hp.image_size < 1 or (hp.center_crop is not None and hp.center_crop < 1):
            raise ValueError(
                f"data.image_size={hp.image_size} and data.center_crop={hp.center_crop} must be positive"
            )

    def _transform(self, train: bool) -> A.Compose:
        hp = self.hparams
        crop = _DEFAULT_CROP.get(hp.layout) if hp.center_crop is None else hp.center_crop
        steps: list[A.BasicTransform] = [] if crop is None else [A.CenterCrop(crop, crop)]
        steps.append(resize_square(hp.image_size))
        if train and hp.flip:
            steps.append(A.HorizontalFlip(p=0.5))
        return A.Compose(steps)

    def _build(self, stage: str, root: Path) -> None:
        hp = self.hparams
        if stage == "fit":
            self.train_dataset = self._dataset(root, "train", train=True)
        if stage in ("fit", "validate") and hp.val_split is not None:
            self.val_dataset = self._dataset(root, hp.val_split, train=False)
        if stage == "test" and hp.test_split is not None:
            self.test_dataset = self._dataset(root, hp.test_split, train=False)

    def _dataset(self, root: Path, split: str, train: bool) -> MultiDomainDataset:
        hp = self.hparams
        domains = list(hp.domains)
        if hp.layout == "folders":
            paths, labels = read_domain_folders(root / split, domains)
            if hp.aligned_evaluation and not train:
                aligned = aligned_domain_paths(root / split, domains, paths, labels)
                return MultiDomainDataset(paths, labels, self._transform(train), aligned)
        elif hp.layout == "csv":
            paths, labels = read_condition_csv(root / f"{split}.csv", root, domains)
        else:
            default_images, default_labels = _DEFAULT_FILES[hp.layout]
            images_folder = root / (hp.images_folder or default_images)
            labels_file = root / (hp.labels_file or default_labels)
            if hp.layout == "celeba":
                paths, labels = read_celeba_attributes(labels_file, images_folder, domains, split)
            else:
                ids_file = root / f"{split}_ids.csv"
                paths, labels = read_au_conditions(ids_file, images_folder, labels_file, domains)
        return MultiDomainDataset(paths, labels, self._transform(train))
