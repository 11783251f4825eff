"""One console line per validation with the logged `val/` metrics."""

from __future__ import annotations

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info


class PrintMetrics(Callback):
    """Prints the validation metrics after each validation, and those of the untrained model when
    the sanity check covers the whole validation set (`trainer.num_sanity_val_steps: -1`)."""

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if not metrics:
            return
        when = "untrained" if trainer.sanity_checking else f"epoch {trainer.current_epoch}"
        rank_zero_info(f"{when}: " + "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
