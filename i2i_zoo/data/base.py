"""What the folder-layout datamodules share: the datamodule base (root resolution, the training
stream's generators and their checkpoint state, loaders, and the fit/val/test build written
once), the constructor arguments they share with their documentation, and the item helpers of
their datasets. Each layout's module declares its datasets and options on top of it."""

from __future__ import annotations

import functools
import inspect
import os
import textwrap
from pathlib import Path
from typing import Callable, ClassVar

import albumentations as A
import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from i2i_zoo.data.io import ImageReadError, check_float_range, list_images, match_channels, read_image, to_tensor
from i2i_zoo.data.stream import _batches_done, _RandomDataset, _StreamLoader, _StreamSampler
from i2i_zoo.data.transforms import PreprocessMode, build_transform, load_augmentations, seed_from_torch
from i2i_zoo.distributed import gather_per_rank, own_rank_state, world


def _check_channels(**channels: int) -> None:
    for name, value in channels.items():
        if value not in (1, 3):
            raise ValueError(f"data.{name}={value} is not supported; use 1 or 3")


def _apply(
    transform: A.Compose | None, path: Path, generator: torch.Generator, **images: np.ndarray
) -> dict[str, np.ndarray]:
    """Apply ``transform`` with a seed drawn from ``generator``; errors (e.g. image too small)
    name ``path``."""
    if transform is None:
        return images
    seed_from_torch(transform, generator)
    try:
        transformed = transform(**images)
    except Exception as error:  # albumentations' CropSizeError is no ValueError
        raise ValueError(f"cannot transform {path}: {error}") from error
    # Bicubic resizing overshoots the [0, 1] range near edges.
    return {key: np.clip(value, 0.0, 1.0) for key, value in transformed.items()}


class _SideBySideDataset(_RandomDataset):
    """Side-by-side images whose left and right halves are the items named ``halves`` (with
    ``<half>_path``, the file), each given its count of ``channels`` as
    :func:`~i2i_zoo.data.io.match_channels` does (``options`` name the settings in errors).
    With ``square_halves`` an image must be twice as wide as high (two square halves, as in
    pix2pix's datasets), which catches single images in the folder. ``transform`` is called as
    ``transform(image=left, B=right)`` so both halves get the same crop and flip."""

    halves: ClassVar[tuple[str, str]]

    def __init__(
        self,
        folder: str | os.PathLike,
        channels: tuple[int, int],
        options: tuple[str, str],
        transform: A.Compose | None,
        expected: str,
        square_halves: bool = True,
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        _check_channels(**{option.removeprefix("data."): count for option, count in zip(options, channels)})
        self.paths = list_images(folder, expected)
        self._channels, self._options = channels, options
        self.transform, self.square_halves, self.float_range = transform, square_halves, float_range

    def __len__(self) -> int:
        return len(self.paths)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        image = read_image(path, float_range=self.float_range)
        left_name, right_name = self.halves
        height, width = image.shape[:2]
        if width % 2:
            raise ImageReadError(
                f"{path} has odd width {width}; a side-by-side image's width must be even "
                f"({left_name} left half | {right_name} right half)"
            )
        if self.square_halves and width != 2 * height:
            raise ImageReadError(
                f"{path} is {width}x{height} pixels: a side-by-side image holds two square halves "
                f"({left_name} left | {right_name} right), so its width must be twice its height "
                f"({2 * height}); if it is a single image, remove it, and for pairs of non-square "
                "halves set data.square_halves: false"
            )
        half = width // 2
        left = match_channels(image[:, :half], self._channels[0], path, self._options[0])
        right = match_channels(image[:, half:], self._channels[1], path, self._options[1])
        out = _apply(self.transform, path, generator, image=left, B=right)
        return {left_name: to_tensor(out["image"]), right_name: to_tensor(out["B"]),
                f"{left_name}_path": str(path), f"{right_name}_path": str(path)}


def _resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    # Area when shrinking, bicubic when enlarging, as the pix2pix transforms.
    shrink = height * width < image.shape[0] * image.shape[1]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(resized.reshape(height, width, image.shape[2]), 0.0, 1.0)


class ImageFolderDataset(Dataset):
    """A plain folder of images at their original sizes (for prediction).

    With ``channels``, each image is converted to that count as training converts
    (:func:`~i2i_zoo.data.io.match_channels`); without, it keeps the channels of its file. A file
    that cannot be read or converted becomes an item ``{"path", "error"}`` (the reason) instead of
    an exception: one bad file among many must not end a run after half its outputs.

    With ``reference`` (an image file), items also hold ``reference``: that image resized to
    each image's size, for reference-guided methods. ``float_range`` is passed to
    :func:`~i2i_zoo.data.io.read_image`.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        reference: str | os.PathLike | None = None,
        channels: int | None = None,
        float_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.paths = list_images(folder)
        self.channels = channels
        self.float_range = float_range
        self.reference_path = None if reference is None else Path(reference)
        # Converted once: a reference that cannot be converted fails before any output is written.
        self.reference = None if reference is None else read_image(reference, channels, float_range=float_range)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        try:
            image = read_image(path, self.channels, float_range=self.float_range)
        except ImageReadError as error:
            return {"path": str(path), "error": str(error)}
        item = {"image": to_tensor(image), "path": str(path)}
        if self.reference is not None:
            reference = match_channels(self.reference, image.shape[2], path, "data.predict_reference")
            item["reference"] = to_tensor(_resize_to(reference, *image.shape[:2]))
        return item


class SampleRequests(Dataset):
    """What a generative method's predict writes: ``samples_per_class`` samples of each class,
    items ``{"label": class index, "index": sample number, "path": "<class name>/<number>.png"}``.
    ``paths`` are the output names relative to the output folder (``relative_outputs``), which the
    prediction writer uses as they are; there are no input files."""

    relative_outputs = True

    def __init__(self, names: list[str], labels: list[int], samples_per_class: int) -> None:
        if len(names) != len(labels):
            raise ValueError(f"{len(names)} class names but {len(labels)} labels")
        self.items = [(label, i, f"{name}/{i:04d}.png") for name, label in zip(names, labels) for i in range(samples_per_class)]
        self.paths = [path for _, _, path in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        label, number, path = self.items[index]
        return {"label": torch.tensor(label), "index": number, "path": path}


# The documentation of the arguments several datamodules take, written once; a datamodule's own
# arguments, or its own wording of a shared one, go to @document_arguments.
ARGUMENTS = {
    "root": "dataset folder, or ``demo:<name>`` for a generated demo dataset (not needed for "
    "``predict``, which reads ``predict_dir``).",
    "channels": "channels of the images (1 or 3).",
    "channels_A": "channels of the domain A images (1 or 3).",
    "channels_B": "channels of the domain B images (1 or 3).",
    "load_size": "training images are resized to this square size before cropping.",
    "crop_size": "size of the training crops; evaluation images are resized to it.",
    "flip": "randomly flip training images horizontally.",
    "preprocess": "``resize_and_crop``, ``crop``, ``resize`` or ``none``.",
    "augmentations": "extra training augmentations, applied after ``preprocess`` and ``flip`` (with "
    "one random draw for the images of a pair): an albumentations pipeline in its own "
    "serialisation, the dict of ``A.to_dict(pipeline)``, or the path (from the working folder) of a "
    ".yaml/.json file holding it. Unpaired domains draw theirs apart. Their randomness comes from each item's seed, so a resumed run replays them.",
    "batch_size": "images per batch for training, validation and testing.",
    "num_workers": "DataLoader worker processes.",
    "val_split": "folder under ``root`` used for validation; null for none.",
    "test_split": "folder under ``root`` used for testing; null for none.",
    "predict_dir": "folder of images to translate with ``predict``.",
    "pin_memory": "pin batches in memory (only when CUDA is available).",
    "float_range": "the pixel values of black and white in floating-point image files (e.g. 32-bit "
    "TIFF), mapped to 0 and 1: ``[0, 255]`` for files on an 8-bit scale. A float value outside "
    "this range, or not finite, is an error naming the file. 8- and 16-bit files are unaffected.",
    "drop_last": "drop the last training batch of an epoch when it is smaller than ``batch_size`` "
    "(under DDP: the last partial batch of each process's share), as GANimation's original loader "
    "does; evaluation keeps every image.",
    "square_halves": "each half of a side-by-side image is square, so its width must be twice its "
    "height (pix2pix's datasets are): an image of another shape, such as a single image left in "
    "the folder, is an error naming the file. False accepts pairs of non-square halves.",
}

# The shared numbers a datamodule checks where it has them, with their smallest valid values.
_MINIMUMS = {"batch_size": 1, "eval_batch_size": 1, "num_workers": 0, "load_size": 1, "crop_size": 1}


def document_arguments(**own: str) -> Callable[[type], type]:
    """Class decorator writing the ``Args:`` docstring of the class's ``__init__`` (LightningCLI
    shows it in ``--help`` and ``--print_config``), in signature order, from ``own`` and
    :data:`ARGUMENTS`."""

    def decorate(cls: type) -> type:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        # **kwargs go to the base class, whose own __init__ documents them.
        names = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]
        unknown = set(own) - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__}.__init__ takes no {sorted(unknown)}")
        entries = [
            textwrap.fill(
                f"{name}: {own.get(name) or ARGUMENTS[name]}", 96, initial_indent="    ",
                subsequent_indent="        ", break_long_words=False, break_on_hyphens=False,
            )
            for name in names
        ]
        # A leading newline, as a written docstring has: inspect.cleandoc (which the docstring
        # parser applies) keeps the lines after the first one indented relative to each other.
        cls.__init__.__doc__ = "\nArgs:\n" + "\n".join(entries)
        return cls

    return decorate


# The datasets each stage builds, by role: the training split, validation, testing.
_STAGE_ROLES = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


class _EvalSampler(DistributedSampler):
    """Evaluation order: every index once, rank ``r`` of ``num_replicas`` taking ``r``,
    ``r + num_replicas``, ... (ranks may differ by one item). Under DDP Lightning would otherwise
    add its DistributedSampler, which pads with repeats to a multiple of the processes, so metrics
    counted those images twice; it keeps a DistributedSampler it is given. Every rank needs an
    item: one without batches would miss the collectives of the first batch (DDP's buffer
    broadcast) and of the epoch's end (metric sync)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, what: str) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        if len(dataset) < num_replicas:
            raise ValueError(
                f"{what} has {len(dataset)} item(s) for {num_replicas} processes, each of which evaluates "
                "a share: use at most that many devices, or more images"
            )
        self.num_samples = len(range(rank, len(dataset), num_replicas))
        self.total_size = len(dataset)

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))


def _collate(items: list[dict], advice: str) -> dict:
    """``default_collate``; images of different sizes (``preprocess: none``) raise an error naming
    files and sizes, and ``advice``, instead of torch.stack's."""
    try:
        return default_collate(items)
    except RuntimeError:
        for key in (key for key, value in items[0].items() if isinstance(value, torch.Tensor)):
            shapes: dict[tuple[int, ...], object] = {}  # each size and the first file of that size
            for item in items:
                shapes.setdefault(tuple(item[key].shape), item.get(f"{key}_path", item.get("path")))
            if len(shapes) > 1:
                sizes = ", ".join(f"{path}: {'x'.join(map(str, shape))}" for shape, path in list(shapes.items())[:4])
                raise ValueError(f"the {key} images of a batch differ in size ({sizes}): {advice}") from None
        raise


@document_arguments()
class _FolderDataModule(L.LightningDataModule):
    """Loaders, root resolution and errors shared by the folder-layout datamodules.

    A subclass sets ``demo_layout`` (the layout of ``demo:<name>`` roots), calls
    ``super().__init__()`` first in its ``__init__`` and implements ``_check_options()`` and
    ``_dataset(root, role, split)``; the base builds each stage's datasets from them (roles
    ``train``, ``val``, ``test``; see ``_split`` for which split each reads).
    """

    demo_layout: ClassVar[str]
    _layout_hint: ClassVar[str]
    _val_option: ClassVar[str] = "data.val_split"
    _test_option: ClassVar[str] = "data.test_split"
    _eval_batch_option: ClassVar[str] = "data.batch_size"  # the batch size of validation and test
    # The options that give a layout's images one size, named in the error on a batch of several.
    _same_size_hint: ClassVar[str] = ""

    def __init__(
        self,
        num_workers: int = 4,
        predict_dir: str | None = None,
        pin_memory: bool = True,
        float_range: tuple[float, float] = (0.0, 1.0),
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        # Lightning reads the subclasses' __init__ arguments from the calling frames.
        self.save_hyperparameters()
        # Fail on bad options at instantiation, not at setup.
        self._check_shared_options()
        self._check_options()
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

    def _check_shared_options(self) -> None:
        for name, minimum in _MINIMUMS.items():
            value = self.hparams.get(name, minimum)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"data.{name}={value} is out of range: use an integer >= {minimum}")
        check_float_range(self.hparams.float_range)

    def _check_options(self) -> None:
        """Raise a ValueError naming the option when the hyperparameters cannot work."""
        raise NotImplementedError

    def _split(self, role: str) -> str | None:
        """The split that ``role`` reads, None for none: ``train``, ``data.val_split``, ``data.test_split``."""
        return {"train": "train", "val": self.hparams.val_split, "test": self.hparams.test_split}[role]

    def _dataset(self, root: Path, role: str, split: str) -> Dataset:
        """The dataset of ``split`` under ``root`` for ``role`` (``train`` draws augmentations)."""
        raise NotImplementedError

    def _hint(self, role: str) -> str:
        """The option to change, for an error about a missing ``role`` split."""
        if role == "val":
            return f"; set {self._val_option}: null to train without validation"
        return f"; see {self._test_option}" if role == "test" else ""

    def _build(self, stage: str, root: Path) -> None:
        for role in _STAGE_ROLES.get(stage, ()):
            split = self._split(role)
            if split is not None:
                setattr(self, f"{role}_dataset", self._dataset(root, role, split))

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

    def _loader(
        self, dataset: Dataset, batch_size: int, sampler: DistributedSampler | None = None,
        batch_option: str | None = None, drop_last: bool = False,
    ) -> DataLoader:
        """A loader of ``dataset``; ``batch_option`` names the option that set ``batch_size`` (for
        the error on a batch of images of several sizes), None for batches of one."""
        workers = self.hparams.num_workers
        advice = f"set {self._same_size_hint}{batch_option}: 1"
        return (_StreamLoader if isinstance(sampler, _StreamSampler) else DataLoader)(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=None if batch_option is None else functools.partial(_collate, advice=advice),
            # Items take their randomness from their keys; this generator only keeps the loader's
            # own draw (its workers' base seed) off torch's RNG.
            generator=torch.Generator().manual_seed(0),
            drop_last=drop_last,
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
        batch_size, drop_last = self.hparams.batch_size, self.hparams.drop_last
        # Every process's share has num_samples items (padded), so all drop alike and run as many batches.
        if drop_last and sampler.num_samples < batch_size:
            raise ValueError(
                f"data.drop_last: each of {sampler.num_replicas} process(es) gets {sampler.num_samples} of the "
                f"{len(self.train_dataset)} training images, less than data.batch_size={batch_size}, so no batch "
                "would be left: use a smaller batch, fewer devices or data.drop_last: false"
            )
        return self._loader(self.train_dataset, batch_size, sampler, "data.batch_size", drop_last)

    def _eval_loader(self, dataset: Dataset, what: str) -> DataLoader:
        sampler = _EvalSampler(dataset, *world(self.trainer), what)
        batch_size = self.hparams[self._eval_batch_option.removeprefix("data.")]
        return self._loader(dataset, batch_size, sampler, self._eval_batch_option)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            return []  # no validation split: Lightning skips the validation loop
        return self._eval_loader(self.val_dataset, f"the validation split ({self._val_option})")

    def test_dataloader(self) -> DataLoader:
        if self.test_dataset is None:
            raise ValueError(f"{type(self).__name__} has no test split: set {self._test_option} (and run setup('test'))")
        return self._eval_loader(self.test_dataset, f"the test split ({self._test_option})")

    @property
    def predict_dir(self) -> str | None:
        """The folder ``predict`` reads, user-expanded (the prediction writer mirrors it)."""
        folder = self.hparams.predict_dir
        return None if folder is None else str(Path(folder).expanduser())

    def predict_dataloader(self) -> DataLoader:
        model = None if self.trainer is None else self.trainer.lightning_module
        if getattr(model, "generates", False):  # a generative method (BigGAN): no input images
            return self._loader(model.sample_requests(), batch_size=self.hparams.get("batch_size", 1), batch_option="data.batch_size")
        return self._predict_folder_loader()

    def _predict_folder_loader(self, reference: str | None = None) -> DataLoader:
        """predict_dir's images, each with `reference` (an image file: `data.predict_reference`)
        resized to its size where one is given."""
        if self.predict_dir is None:
            raise ValueError("set data.predict_dir to a folder of images to translate")
        if reference is not None:
            reference = Path(reference).expanduser()
            if not reference.is_file():
                raise FileNotFoundError(f"data.predict_reference: {reference} is not an image file")
        dataset = ImageFolderDataset(self.predict_dir, reference, channels=self._predict_channels(), float_range=self.hparams.float_range)
        return self._loader(dataset, batch_size=1)  # images may differ in size

    def _predict_channels(self) -> int | None:
        """The channels predict converts every image to: what the model being run translates (its
        ``input_channels()``); None (each file's own) outside a Trainer or for other models."""
        model = None if self.trainer is None else self.trainer.lightning_module
        return model.input_channels() if hasattr(model, "input_channels") else None


@document_arguments()
class _PreprocessedDataModule(_FolderDataModule):
    """A folder datamodule with pix2pix's preprocessing options (``load_size``, ``crop_size``,
    ``flip``, ``preprocess``), the user's training ``augmentations`` and their batch size: the
    arguments the paired, unpaired and reference-pair datamodules share, declared once (theirs
    pass them on as ``**kwargs``, which LightningCLI follows for options and help)."""

    _same_size_hint = "data.preprocess to resize_and_crop, crop or resize, or "

    def __init__(
        self,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        preprocess: PreprocessMode = "resize_and_crop",
        augmentations: str | dict | None = None,
        batch_size: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    def _check_options(self) -> None:
        self._transform(train=True)

    def _transform(self, train: bool) -> A.Compose:
        hp = self.hparams
        augmentations = load_augmentations(hp.augmentations) if train else None
        return build_transform(hp.load_size, hp.crop_size, hp.flip, train, hp.preprocess, augmentations)

