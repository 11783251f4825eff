"""Writes translated images under the input file names, never over an input or another output."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info

from i2i_zoo.data.io import WRITE_EXTENSIONS, write_image

# Skip reasons the closing line spells out; the others were warned one by one.
_REASONS_SHOWN = 3


class PredictionWriter(BasePredictionWriter):
    """Saves each predicted image as `output_dir/<input file's path relative to the predict
    folder>`, so a folder of inputs becomes a mirror folder of outputs, and ends with one line:
    `N written to DIR, M skipped (reasons)`. A generative method's samples (a predict dataset
    with `relative_outputs`, such as BigGAN's `SampleRequests`) go to `output_dir/<its path>`
    (`<class>/<number>.png`).

    Names: PNG and JPEG inputs keep theirs; other formats (BMP, TIFF, WebP) are written as PNG
    under their full name with `.png` appended (`x.tif` -> `x.tif.png`), so inputs sharing a stem
    never share an output. Outputs are 8-bit.

    Before the first image is written, the run stops if `output_dir` holds an input file, lies
    inside the predict folder (a later predict would translate its outputs), is not empty (unless
    `overwrite`), or if two inputs would share an output. Files the data could not read or
    convert (corrupt, colour where the model takes gray) are skipped with a warning and counted.

    Args:
        output_dir: where the translated images go; default `predictions/<checkpoint stem>`.
        overwrite: write into a folder that is not empty, replacing the files of the same names.
    """

    def __init__(self, output_dir: str | None = None, overwrite: bool = False):
        super().__init__(write_interval="batch")
        self.output_dir = None if output_dir is None else Path(output_dir).expanduser()
        self.overwrite = overwrite

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._folder = self._resolve_folder(trainer)
        root = getattr(trainer.datamodule, "predict_dir", None)
        datasets = [loader.dataset for loader in _as_list(trainer.predict_dataloaders)]
        if not all(hasattr(dataset, "paths") for dataset in datasets):
            raise TypeError("PredictionWriter needs the predict dataset's input files (`paths`, as ImageFolderDataset has)")
        inputs = [path for dataset in datasets for path in dataset.paths]
        if all(getattr(dataset, "relative_outputs", False) for dataset in datasets):
            # A generative method's samples (SampleRequests): `paths` are the output names.
            _check_folder(self._folder, None, [], self.overwrite)
            self._targets = {str(path): self._folder / path for path in inputs}
            self._written, self._skipped = 0, []
            trainer.strategy.barrier()
            return
        references = [dataset.reference_path for dataset in datasets if getattr(dataset, "reference_path", None)]
        _check_folder(self._folder, root, [*inputs, *references], self.overwrite)
        self._targets = output_paths(inputs, root, self._folder)
        self._written, self._skipped = 0, []
        trainer.strategy.barrier()  # every process checks the folder before any writes to it

    def _resolve_folder(self, trainer: Trainer) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        if trainer.ckpt_path is None:
            raise ValueError(
                "PredictionWriter needs output_dir when predict runs without a checkpoint (the default is "
                "predictions/<checkpoint stem>)"
            )
        return Path("predictions") / Path(trainer.ckpt_path).stem

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: dict[str, Any],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if "error" in prediction:
            for reason in prediction["error"]:
                warnings.warn(f"skipped: {reason}")
                self._skipped.append(reason)
            return
        for image, path in zip(prediction["image"], prediction["path"]):
            write_image(self._targets[str(path)], image)
            self._written += 1

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Each process writes its share of the inputs; the line counts them all.
        counts = torch.tensor([self._written, len(self._skipped)], device=pl_module.device)
        written, skipped = trainer.strategy.reduce(counts, reduce_op="sum").tolist()
        line = f"{written} written to {self._folder}, {skipped} skipped"
        if skipped:
            reasons = self._skipped[:_REASONS_SHOWN]
            more = [f"{skipped - len(reasons)} more warned above"] if skipped > len(reasons) else []
            line += f" ({'; '.join(reasons + more)})"
        rank_zero_info(line)


def output_paths(inputs: Iterable[str | os.PathLike], root: str | os.PathLike | None, output_dir: Path) -> dict[str, Path]:
    """Where each input's translation goes (keyed by the input as a string): its path relative to
    `root` (its name alone outside it) under `output_dir`, with `.png` appended to names of
    formats that cannot be written. Raises ValueError when two inputs would share an output."""
    targets: dict[str, Path] = {}
    sources: dict[Path, Path] = {}
    for path in map(Path, inputs):
        target = output_dir / _relative_name(path, root)
        if target in sources:
            raise ValueError(f"inputs {path} and {sources[target]} would both be written to {target}: rename one")
        targets[str(path)], sources[target] = target, path
    return targets


def _relative_name(path: Path, root: str | os.PathLike | None) -> Path:
    if root is not None and path.resolve().is_relative_to(Path(root).resolve()):
        name = path.resolve().relative_to(Path(root).resolve())
    else:
        name = Path(path.name)
    return name if name.suffix.lower() in WRITE_EXTENSIONS else name.with_name(name.name + ".png")


def _check_folder(folder: Path, root: str | os.PathLike | None, inputs: list[Path], overwrite: bool) -> None:
    """Refuse a folder where writing could replace an input or a file the user did not ask to replace."""
    resolved = folder.resolve()
    held = next((path for path in inputs if path.resolve().is_relative_to(resolved)), None)
    if held is not None:
        raise ValueError(f"--output_dir {folder} holds the input {held}: choose a folder outside the inputs")
    if root is not None and resolved.is_relative_to(Path(root).resolve()):
        raise ValueError(
            f"--output_dir {folder} lies inside data.predict_dir {root}, where a later predict would take its outputs "
            "for inputs: choose a folder outside it"
        )
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--output_dir {folder} is a file: expected a folder for the translated images")
    if not overwrite and folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(
            f"--output_dir {folder} is not empty: choose another folder (--output_dir) or pass --overwrite to replace "
            "the files of the same names (PredictionWriter's output_dir and overwrite)"
        )


def _as_list(loaders: Any) -> list:
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]
