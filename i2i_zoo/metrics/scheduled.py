"""`ScheduledEvaluation`: the base of the metric callbacks that score a method's
`evaluation_images` on chosen validation epochs and in every validate and test run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from i2i_zoo.methods.base import EvalImages


class ScheduledEvaluation(Callback):
    """Calls `update(pl_module, outputs)` on every validation/test batch of an active epoch and
    `log_and_reset(trainer, pl_module, stage)` at its end. Active: during fit, after epochs whose
    number (from 1) is a multiple of `every_n_epochs`, and in the sanity check with
    `on_sanity_check`; always in validate and test. Subclasses log under `metric_name(...)`
    (`<stage>/<namespace><name>`, the namespace being the method's `metric_namespace`) and add the
    names they log to `logged_names`."""

    def __init__(self, every_n_epochs: int = 1, on_sanity_check: bool = False) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"{type(self).__name__}(every_n_epochs={every_n_epochs}) must be at least 1")
        self.every_n_epochs = every_n_epochs
        self.on_sanity_check = on_sanity_check
        self.logged_names: set[str] = set()
        self._active = False

    def update(self, pl_module: LightningModule, outputs: dict[str, EvalImages]) -> None:
        raise NotImplementedError

    @staticmethod
    def metric_name(pl_module: LightningModule, stage: str, name: str) -> str:
        """`<stage>/<namespace><name>`, e.g. `val/phase2/mfid`: a method whose evaluation changes
        meaning during training (BiL-GAN's switch to high resolution) names its `metric_namespace`,
        so scores of different settings are never compared (by a chart or a checkpoint)."""
        namespace = getattr(pl_module, "metric_namespace", "")
        if not isinstance(namespace, str) or (namespace and not namespace.endswith("/")):
            raise ValueError(
                f"{type(pl_module).__name__}.metric_namespace is {namespace!r}; expected '' or a str ending in '/' (e.g. 'phase2/')"
            )
        return f"{stage}/{namespace}{name}"

    def check_checkpoint_schedules(self, trainer: Trainer, names: Iterable[str]) -> None:
        """A ModelCheckpoint monitoring one of `names` (`<stage>/[<namespace>]<name>`, a group's
        `<name>_<group>` or the mean `m<name>`) must save on the epochs this callback computes:
        on the others the metric is absent."""
        names = tuple(names)
        for checkpoint in trainer.checkpoint_callbacks:
            if not isinstance(checkpoint, ModelCheckpoint) or not checkpoint.monitor:
                continue
            # Namespaces end with "/": the metric is whatever follows the last one, in any phase.
            name = checkpoint.monitor.rsplit("/", 1)[-1]
            ours = any(name in (n, f"m{n}") or name.startswith(f"{n}_") for n in names)
            if ours and checkpoint._every_n_epochs % self.every_n_epochs:
                raise ValueError(
                    f"ModelCheckpoint(monitor={checkpoint.monitor!r}) saves every {checkpoint._every_n_epochs} "
                    f"epoch(s) but {type(self).__name__} computes it every {self.every_n_epochs}: set the "
                    f"ModelCheckpoint's every_n_epochs to a multiple of {self.every_n_epochs}"
                )

    def log_and_reset(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        raise NotImplementedError

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Lightning keeps every value ever logged in callback_metrics: without this, an epoch
        # that computes nothing would show (and hand checkpoints or early stopping) the last value.
        for name in self.logged_names:
            trainer.callback_metrics.pop(name, None)
        if trainer.sanity_checking:
            self._active = self.on_sanity_check
        elif trainer.state.fn == TrainerFn.FITTING:
            self._active = (trainer.current_epoch + 1) % self.every_n_epochs == 0
        else:
            self._active = True

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._active = True

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._active:
            self.update(pl_module, _evaluation_images(self, pl_module, outputs))

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._active:
            self.update(pl_module, _evaluation_images(self, pl_module, outputs))

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active:
            self.log_and_reset(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active:
            self.log_and_reset(trainer, pl_module, "test")


def _evaluation_images(callback: Callback, pl_module: LightningModule, outputs: Any) -> dict[str, EvalImages]:
    if not isinstance(outputs, dict) or not all(isinstance(v, EvalImages) for v in outputs.values()):
        raise TypeError(
            f"{type(callback).__name__} needs {type(pl_module).__name__}'s validation_step/test_step to return "
            f"its evaluation_images(batch) (a dict of EvalImages), got {type(outputs).__name__}"
        )
    return outputs
