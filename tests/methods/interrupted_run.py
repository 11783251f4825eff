"""A callback that interrupts a run as a killed job would, after writing a checkpoint."""

from pathlib import Path

from lightning.pytorch.callbacks import Checkpoint


class InterruptAfter(Checkpoint):
    """Writes `path` once training batch `iteration` is done (mid-epoch) and stops the run, as a
    job killed there. A Checkpoint, so Lightning runs it after the other callbacks, as it runs
    ModelCheckpoint (after the method has counted the iteration)."""

    def __init__(self, iteration: int, path: Path):
        self.iteration, self.path = iteration, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iteration == self.iteration:
            trainer.save_checkpoint(self.path)
            trainer.should_stop = True
