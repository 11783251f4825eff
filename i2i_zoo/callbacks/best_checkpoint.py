"""`PhaseCheckpoint`: keeps the best checkpoints by a metric that exists only in a later training
phase (BiL-GAN's `val/phase2/mfid`)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class PhaseCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint with a `monitor` that saves nothing after validations that did not log it.
    Lightning's stops the run with an error there once a validation has run, so monitoring
    `val/phase2/mfid` would end a two-phase run at its first validation in phase 1. Takes
    ModelCheckpoint's arguments; `monitor` is required."""

    def __init__(self, monitor: str, **kwargs: Any) -> None:
        super().__init__(monitor=monitor, **kwargs)

    def _save_topk_checkpoint(self, trainer: Trainer, monitor_candidates: dict[str, Any]) -> None:
        if self.monitor in monitor_candidates:
            super()._save_topk_checkpoint(trainer, monitor_candidates)
