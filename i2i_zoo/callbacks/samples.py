"""Sample grids of fixed validation images, logged to TensorBoard and saved as PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import default_collate
from torchvision.utils import make_grid, save_image

# Pixels between tiles (and around the grid); the labels line up with the tiles through it.
GRID_PADDING = 2
# OpenCV's plain font, small (a strip of 19 px): names of up to 6 letters fit over a 48 px tile.
LABEL_FONT = cv2.FONT_HERSHEY_PLAIN
LABEL_SCALE = 0.8


class SampleGrid(Callback):
    """After validation, translates the first `num_samples` validation images (the same ones
    every time) and shows one row per sample with the method's `visuals` as columns (for
    pix2pix: input, output, target), named in a header strip.

    Args:
        num_samples: validation images shown.
        every_n_epochs: how often to draw the grid.
        save_png: also write `<log_dir>/samples/epoch_XXXX.png`.
    """

    def __init__(self, num_samples: int = 4, every_n_epochs: int = 1, save_png: bool = True):
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.save_png = save_png

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.current_epoch % self.every_n_epochs:
            return
        dataset = getattr(trainer.datamodule, "val_dataset", None)
        if dataset is None or len(dataset) == 0:
            return
        batch = default_collate([dataset[i] for i in range(min(self.num_samples, len(dataset)))])
        batch = pl_module.transfer_batch_to_device(batch, pl_module.device, 0)
        # Forked RNG: the same noise every epoch, and training's random stream is left untouched.
        with torch.random.fork_rng(devices=[pl_module.device] if pl_module.device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(0)
            visuals = pl_module.visuals(batch)
        grid = label_columns(sample_grid(visuals), list(visuals), tile_width=next(iter(visuals.values())).shape[-1])
        if isinstance(trainer.logger, TensorBoardLogger):
            trainer.logger.experiment.add_image("samples", grid, global_step=trainer.global_step)
        if self.save_png:
            # Not trainer.log_dir: it broadcasts, and only rank 0 gets here.
            log_dir = trainer.logger.log_dir if trainer.logger and trainer.logger.log_dir else trainer.default_root_dir
            path = Path(log_dir) / "samples" / f"epoch_{trainer.current_epoch:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(grid, path)


def sample_grid(visuals: dict[str, torch.Tensor]) -> torch.Tensor:
    """One row per sample, one column per named visual; [-1, 1] images to a [0, 1] grid.
    Single-channel images are shown as gray RGB so they can share the grid with colour ones."""
    columns = [images.detach().float().cpu().expand(-1, 3, -1, -1) for images in visuals.values()]
    rows = torch.stack(columns, dim=1).flatten(0, 1)
    return make_grid((rows.clamp(-1, 1) + 1) / 2, nrow=len(columns), padding=GRID_PADDING)


def label_columns(grid: torch.Tensor, names: list[str], tile_width: int) -> torch.Tensor:
    """`grid` (a `sample_grid`) under a white strip naming each column in black; a name wider
    than its tile is drawn smaller, so it never runs into the next column's."""
    (_, text_height), baseline = cv2.getTextSize("Ag", LABEL_FONT, LABEL_SCALE, 1)
    strip = np.full((text_height + baseline + 2 * GRID_PADDING, grid.shape[-1], 3), 255, np.uint8)
    for column, name in enumerate(names):
        (text_width, _), _ = cv2.getTextSize(name, LABEL_FONT, LABEL_SCALE, 1)
        scale = LABEL_SCALE * min(1.0, tile_width / text_width)
        left = GRID_PADDING + column * (tile_width + GRID_PADDING)
        cv2.putText(strip, name, (left, GRID_PADDING + text_height), LABEL_FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    header = torch.from_numpy(strip).permute(2, 0, 1).to(grid.dtype) / 255
    return torch.cat([header, grid], dim=1)
