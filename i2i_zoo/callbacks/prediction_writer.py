"""Writes translated images under the input file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from i2i_zoo.data.io import WRITE_EXTENSIONS, write_image


class PredictionWriter(BasePredictionWriter):
    """Saves each predicted image as `output_dir/<input file's path relative to the predict
    folder>`, so a folder of inputs becomes a mirror folder of outputs. Outputs are 8-bit; inputs
    in other formats than PNG or JPEG (BMP, TIFF, WebP) are written as PNG under the same stem.

    Args:
        output_dir: where the translated images go.
    """

    def __init__(self, output_dir: str = "predictions"):
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)

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
        source_root = getattr(trainer.datamodule, "predict_dir", None)
        for image, path in zip(prediction["image"], prediction["path"]):
            write_image(self.output_dir / _relative_name(Path(path), source_root), image)


def _relative_name(path: Path, root: str | None) -> Path:
    if root is not None and path.resolve().is_relative_to(Path(root).resolve()):
        name = path.resolve().relative_to(Path(root).resolve())
    else:
        name = Path(path.name)
    return name if name.suffix.lower() in WRITE_EXTENSIONS else name.with_suffix(".png")
