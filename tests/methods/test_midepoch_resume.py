"""A run that crashes after writing a checkpoint within an epoch, resumed from it, ends as the
uninterrupted run does: the data stream goes on where it stopped (the same batches, images and
augmentations), and so do the weights, iteration counter, LR schedules and RNG states.

Checkpoints come from `ModelCheckpoint(every_n_train_steps=6)`: pix2pix steps two optimizers a
batch, so global step 6 is the end of batch 2 (of 4) in the first epoch and step 12 the end of
batch 1 in the second. The first run crashes after step 6; a run resumed from that checkpoint
writes step 12 and crashes; a run resumed from that one finishes."""

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.data import PairedDataModule
from i2i_zoo.methods import Pix2Pix

BATCHES, EPOCHS = 4, 3


class _Crash(Exception):
    pass


class _CrashAt(Callback):
    """Dies at the start of the first batch from global step `step` on, as a killed job would."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step >= self.step:
            raise _Crash


class _Batches(Callback):
    """The batches a run trains on: (epoch, batch index, paths, A, B)."""

    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append((trainer.current_epoch, batch_idx, batch["A_path"], batch["A"].clone(), batch["B"].clone()))


def _fit(folder, datamodule, seed, ckpt_path=None, crash_at=None):
    seed_everything(seed)
    model = Pix2Pix(ngf=8, ndf=8, num_downs=6, image_size=64, n_epochs=1, n_epochs_decay=2)
    batches = _Batches()
    callbacks = [batches, ModelCheckpoint(dirpath=folder, filename="{step}", every_n_train_steps=6, save_top_k=-1)]
    if crash_at is not None:
        callbacks.append(_CrashAt(crash_at))
    trainer = Trainer(
        max_epochs=EPOCHS,
        limit_train_batches=BATCHES,
        limit_val_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
        plugins=[AtomicCheckpointIO()],
        callbacks=callbacks,
    )
    if crash_at is None:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    else:
        with pytest.raises(_Crash):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model, trainer, batches.seen


@pytest.fixture(scope="module", params=[0, 1], ids=["no-workers", "one-worker"])
def runs(request, tmp_path_factory):
    """The uninterrupted run and the three pieces of the interrupted one, each (model, trainer,
    batches), with the checkpoints the pieces resumed from."""

    def make(num_workers):  # the conftest's demo_paired datamodule (a fixture a module-scoped one cannot use)
        return PairedDataModule(root="demo:shapes", load_size=64, crop_size=64, batch_size=4, num_workers=num_workers)

    workers = request.param
    root = tmp_path_factory.mktemp(f"midepoch{workers}")
    full = _fit(root / "full", make(num_workers=workers), seed=0)
    first = _fit(root / "first", make(num_workers=workers), seed=0, crash_at=6)
    # Resumed under another seed: nothing may depend on the seed a run starts with.
    second_ckpt = root / "first" / "step=6.ckpt"
    second = _fit(root / "second", make(num_workers=workers), seed=1234, ckpt_path=second_ckpt, crash_at=12)
    third_ckpt = root / "second" / "step=12.ckpt"
    third = _fit(root / "third", make(num_workers=workers), seed=1234, ckpt_path=third_ckpt)
    return full, (first, second, third), (second_ckpt, third_ckpt)


def test_the_data_stream_goes_on_where_it_stopped(runs):
    full, pieces, checkpoints = runs
    (_, _, expected), pieces_seen = full, [seen for _, _, seen in pieces]
    assert [len(seen) for seen in pieces_seen] == [3, 3, 6]
    resumed = [batch for seen in pieces_seen for batch in seen]
    assert [batch[:3] for batch in resumed] == [batch[:3] for batch in expected]
    for (epoch, index, _, a, b), (*_, a_full, b_full) in zip(resumed, expected):
        assert torch.equal(a, a_full) and torch.equal(b, b_full), (epoch, index)
    # What the checkpoints hold: the samples of the current epoch already consumed (batches of 4).
    consumed = [torch.load(path, weights_only=True)["PairedDataModule"]["consumed_samples"] for path in checkpoints]
    assert consumed == [3 * 4, 2 * 4]


def test_training_goes_on_bit_for_bit(runs):
    (full, full_trainer, _), (*_, (resumed, trainer, _)), _ = runs
    assert resumed.iteration == full.iteration == EPOCHS * BATCHES
    # The epoch schedule stepped once per epoch, three times in all.
    assert [c.scheduler.last_epoch for c in trainer.lr_scheduler_configs] == [EPOCHS, EPOCHS]
    assert trainer.optimizers[0].param_groups[0]["lr"] == full_trainer.optimizers[0].param_groups[0]["lr"]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
