import logging
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from i2i_zoo.callbacks import AtomicCheckpointIO, PrintMetrics, SampleGrid
from i2i_zoo.callbacks.samples import sample_grid
from i2i_zoo.data.io import read_image
from i2i_zoo.methods import Pix2Pix


def test_sample_grid_lays_out_samples_as_rows_and_visuals_as_columns():
    visuals = {
        "input": -torch.ones(3, 1, 8, 8),  # single channel shown as gray RGB
        "output": torch.zeros(3, 3, 8, 8),
        "target": torch.ones(3, 3, 8, 8),
    }
    grid = sample_grid(visuals)
    assert grid.shape == (3, 3 * 8 + 4 * 2, 3 * 8 + 4 * 2)  # make_grid pads 2 px around each tile
    row, col = 2 + 8 + 2, 2  # second sample, first column
    assert grid[:, row : row + 8, col : col + 8].eq(0).all()  # -1 -> black
    assert grid[:, 2:10, 12:20].eq(0.5).all()  # 0 -> mid gray
    assert grid[:, 2:10, 22:30].eq(1).all()  # 1 -> white


def test_sample_grid_and_metrics_after_validation(tmp_path, demo_paired, caplog):
    model = Pix2Pix(ngf=8, ndf=8, num_downs=6, image_size=64)
    trainer = Trainer(
        max_epochs=1, limit_train_batches=1, limit_val_batches=2, num_sanity_val_steps=0,
        default_root_dir=tmp_path, enable_progress_bar=False, enable_checkpointing=False,
        callbacks=[SampleGrid(num_samples=3), PrintMetrics()],
    )
    with caplog.at_level(logging.INFO):
        trainer.fit(model, datamodule=demo_paired())
    png = next(Path(tmp_path).rglob("samples/epoch_0000.png"))
    # 3 samples x (input, output, target), 64 px tiles with 2 px padding.
    assert read_image(png).shape == (3 * 64 + 4 * 2, 3 * 64 + 4 * 2, 3)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 0:"))
    l1 = float(line.split("val/l1=")[1].split()[0])
    assert l1 == pytest.approx(float(trainer.callback_metrics["val/l1"]), abs=1e-4)


def test_atomic_checkpoint_keeps_the_previous_file_when_saving_fails(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"step": 1}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}

    def crash(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]
