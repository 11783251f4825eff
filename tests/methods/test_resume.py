"""An interrupted run resumed from its end-of-epoch checkpoint ends with the same weights as an
uninterrupted run: iteration counter, LR schedules, RNG states and data order all continue."""

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.methods import Pix2Pix


def _fit(tmp_path, datamodule, max_epochs, ckpt_path=None):
    model = Pix2Pix(ngf=8, ndf=8, num_downs=6, image_size=64, n_epochs=1, n_epochs_decay=2)
    trainer = Trainer(
        max_epochs=max_epochs,
        limit_train_batches=4,
        limit_val_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        plugins=[AtomicCheckpointIO()],
        callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)],
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model, trainer


@pytest.mark.parametrize("num_workers", [0, 1])
def test_resume_matches_the_uninterrupted_run(tmp_path, demo_paired, num_workers):
    seed_everything(0)
    full, full_trainer = _fit(tmp_path / "full", demo_paired(num_workers=num_workers), max_epochs=3)

    seed_everything(0)
    _fit(tmp_path / "part", demo_paired(num_workers=num_workers), max_epochs=1)
    seed_everything(1234)  # the resumed run must not depend on the seed it starts with
    resumed, trainer = _fit(
        tmp_path / "part", demo_paired(num_workers=num_workers), max_epochs=3,
        ckpt_path=tmp_path / "part" / "ckpt" / "last.ckpt",
    )

    assert resumed.iteration == full.iteration == 12
    # The schedule continued: stepped once per epoch, three times in all.
    assert [c.scheduler.last_epoch for c in trainer.lr_scheduler_configs] == [3, 3]
    assert trainer.optimizers[0].param_groups[0]["lr"] == full_trainer.optimizers[0].param_groups[0]["lr"]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_validation_changes_neither_training_nor_its_own_scores(tmp_path, demo_paired):
    """pix2pix validates with dropout on (`inference_mode: train`), so validation draws random
    numbers: from a fixed seed, handing training its RNG back untouched."""

    def fit(limit_val_batches):
        seed_everything(0)
        model = Pix2Pix(ngf=8, ndf=8, num_downs=6, image_size=64)
        trainer = Trainer(
            max_epochs=2, limit_train_batches=3, limit_val_batches=limit_val_batches, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
        )
        trainer.fit(model, datamodule=demo_paired())
        return model, trainer

    validated, trainer = fit(limit_val_batches=2)
    unvalidated, _ = fit(limit_val_batches=0)
    for (name, a), b in zip(validated.state_dict().items(), unvalidated.state_dict().values()):
        assert torch.equal(a, b), name
    logged = trainer.callback_metrics["val/l1"].item()
    (again,) = trainer.validate(validated, datamodule=demo_paired(), verbose=False)
    assert again["val/l1"] == pytest.approx(logged, rel=1e-6)
