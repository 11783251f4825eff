import errno
import logging
import re
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from i2i_zoo.callbacks import AtomicCheckpointIO, PrintMetrics, SampleGrid, checkpoint_io
from i2i_zoo.callbacks.samples import label_columns, sample_grid
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


def test_column_names_go_in_a_white_strip_above_the_grid():
    visuals = {name: torch.zeros(2, 3, 32, 32) for name in ("input", "output", "target")}
    grid = sample_grid(visuals)
    labelled = label_columns(grid, list(visuals), tile_width=32)
    header = labelled.shape[1] - grid.shape[1]
    assert header > 0 and labelled.shape[2] == grid.shape[2]
    assert torch.equal(labelled[:, header:], grid)
    for column in range(3):  # ink over each tile, nowhere else white
        left = 2 + column * (32 + 2)
        assert labelled[:, :header, left : left + 32].lt(0.5).any(), f"column {column} has no name"
    assert labelled[:, :header, 34 * 3 :].eq(1).all()


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
    # 3 samples x (input, output, target), 64 px tiles with 2 px padding, under the names.
    height, width, _ = read_image(png).shape
    assert width == 3 * 64 + 4 * 2 and height == 3 * 64 + 4 * 2 + label_columns(torch.zeros(3, 1, 1), [], 64).shape[1] - 1
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


class _FullDisk:
    """A file opened for writing that takes `room` bytes, then raises `error` from `write`, as a
    full disk (ENOSPC) or Ctrl-C in the middle of a write."""

    def __init__(self, handle, room: int, error: BaseException):
        self.handle, self.room, self.error = handle, room, error

    def write(self, data) -> int:
        if len(data) > self.room:
            raise self.error
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _fail_writes(monkeypatch, error: BaseException, room: int = 1024) -> None:
    def open_failing(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        return _FullDisk(handle, room, error) if "w" in mode else handle

    monkeypatch.setattr(checkpoint_io, "open", open_failing, raising=False)


def _checkpoint(step: int) -> dict:
    return {"step": step, "state_dict": {"weight": torch.full((64, 1024), float(step))}}  # 256 KiB


def test_a_full_disk_names_the_checkpoint_and_the_cause_and_keeps_the_previous_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target, fresh = tmp_path / "last.ckpt", tmp_path / "epoch=1.ckpt"
    io.save_checkpoint(_checkpoint(1), target)
    previous = target.read_bytes()

    _fail_writes(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError, match=rf"cannot write checkpoint {re.escape(str(target))}: no space left on device; "
                                      r"the previous checkpoint at that path is untouched") as error:
        io.save_checkpoint(_checkpoint(2), target)
    assert error.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match=rf"cannot write checkpoint {re.escape(str(fresh))}: no space left on device; "
                                      r"nothing was written at that path"):
        io.save_checkpoint(_checkpoint(2), fresh)
    monkeypatch.undo()
    assert target.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_ctrl_c_while_writing_a_checkpoint_keeps_the_previous_file_and_stays_an_interrupt(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint(_checkpoint(1), target)
    previous = target.read_bytes()

    _fail_writes(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint(_checkpoint(2), target)
    monkeypatch.undo()
    assert target.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_partial_files_a_killed_save_left_are_removed_when_a_run_first_saves_into_their_folder(tmp_path):
    leftovers = [".last.ckpt.partial", ".epoch=0-step=4.ckpt.partial"]
    others = ["last.ckpt", ".gitignore", "notes.partial", ".partial"]
    for name in [*leftovers, *others]:
        (tmp_path / name).write_bytes(b"left over")

    io = AtomicCheckpointIO()  # a new run's plugin
    io.save_checkpoint(_checkpoint(1), tmp_path / "epoch=1.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "epoch=1.ckpt"])

    # Only on the run's first save there: a later partial file is another save's, in progress.
    (tmp_path / ".other.ckpt.partial").write_bytes(b"being written")
    io.save_checkpoint(_checkpoint(2), tmp_path / "epoch=2.ckpt")
    assert (tmp_path / ".other.ckpt.partial").is_file()
