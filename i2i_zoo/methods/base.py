"""Mechanics shared by every method: optimizer stepping, LR schedules, logging, exact resume,
translate/predict plumbing. A method owns its networks, its losses and the order of its steps."""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from i2i_zoo.distributed import gather_per_rank, own_rank_state

LR_POLICIES = ("linear", "constant", "exponential")
LR_STEP_UNITS = ("epoch", "iteration")


class LinearDecay:
    """The original pix2pix/CycleGAN rule: factor 1 for `n_constant` steps, then linear decay
    reaching 1 / (n_decay + 1) in the last step. A class (not a lambda) so LambdaLR can pickle it."""

    def __init__(self, n_constant: int, n_decay: int):
        self.n_constant = n_constant
        self.n_decay = n_decay

    def __call__(self, step: int) -> float:
        return 1.0 - max(0, step + 1 - self.n_constant) / float(self.n_decay + 1)


@dataclass
class EvalImages:
    """Images of one validation or test batch for the metrics, all in [-1, 1], NCHW.

    Attributes:
        fake: translated images.
        real: real images of the domain `fake` belongs to (FID, KID); any number, may be empty.
        target: the aligned ground truth of each fake, where the data has one (PSNR, SSIM, LPIPS, L1).
        baseline: what a reference method makes of the same inputs (bicubic upsampling for
            super-resolution), scored against `target` beside `fake` (`psnr_baseline`, ...).
    """

    fake: Tensor
    real: Tensor | None = None
    target: Tensor | None = None
    baseline: Tensor | None = None


class I2IMethod(L.LightningModule):
    """Base of every translation method (manual optimization, several named optimizers).

    Subclasses implement `optimizer_specs()` (name -> parameters and learning rate, in the order
    the optimizers are created), `training_step`, `translate`, `evaluation_images` (what
    validation and the metrics compare) and `visuals` (images for the sample-grid callback).
    """

    # Init arguments that only choose how a trained model runs (e.g. the target of predict): the
    # command line may set them for validate/test/predict from a checkpoint, whose other
    # settings are the checkpoint's.
    inference_options: ClassVar[tuple[str, ...]] = ()
    # The attributes holding the generators (what CompileNetworks compiles by default).
    generator_names: ClassVar[tuple[str, ...]] = ("G",)

    def __init__(
        self,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_policy: str = "linear",
        n_epochs: int = 100,
        n_epochs_decay: int = 100,
        lr_step_unit: str = "epoch",
        lr_decay_rate: float = 0.96,
    ):
        super().__init__()
        if lr_policy not in LR_POLICIES:
            raise ValueError(f"model.lr_policy={lr_policy!r} is unknown; choose one of {LR_POLICIES}")
        if lr_step_unit not in LR_STEP_UNITS:
            raise ValueError(f"model.lr_step_unit={lr_step_unit!r} is unknown; choose one of {LR_STEP_UNITS}")
        self.automatic_optimization = False
        self.betas = tuple(betas)
        self.lr_policy = lr_policy
        self.n_epochs = n_epochs
        self.n_epochs_decay = n_epochs_decay
        self.lr_step_unit = lr_step_unit
        self.lr_decay_rate = lr_decay_rate
        # Training batches processed; Lightning's global_step counts optimizer steps instead.
        self.iteration = 0
        self._optimizer_index: dict[str, int] = {}
        self._batch_size: int | None = None
        self._pending_rng_states: list[dict[str, Any]] | None = None  # see gather_per_rank
        # (optimizer, iteration, loss, terms) of the updates since the last finiteness check.
        self._unchecked_losses: list[tuple[str, int, Tensor, dict[str, Tensor]]] = []

    # ----------------------------------------------------------------- optimizers and schedules
    def optimizer_specs(self) -> dict[str, tuple[Iterable[nn.Parameter], float]]:
        raise NotImplementedError

    def configure_optimizers(self):
        specs = self.optimizer_specs()
        self._optimizer_index = {name: i for i, name in enumerate(specs)}
        optimizers = [torch.optim.Adam(params, lr=lr, betas=self.betas) for params, lr in specs.values()]
        if self.lr_policy == "constant":
            return optimizers
        if self.lr_policy == "exponential":
            return optimizers, [torch.optim.lr_scheduler.ExponentialLR(opt, self.lr_decay_rate) for opt in optimizers]
        rule = LinearDecay(self.n_epochs, self.n_epochs_decay)
        return optimizers, [torch.optim.lr_scheduler.LambdaLR(opt, rule) for opt in optimizers]

    def optimize(self, name: str, loss: Tensor, terms: dict[str, Tensor] | None = None) -> None:
        """One update of optimizer `name`: only its parameters get gradients (toggle), then
        zero_grad, backward (scaled under mixed precision), step. `terms` are logged as
        `train/<term>`. A non-finite loss stops training with an error naming the optimizer, the
        terms at fault and the iteration; it is checked on the iterations Lightning logs, at the
        end of an epoch and before a checkpoint is written, since a check waits for the GPU."""
        terms = {key: value.detach() for key, value in (terms or {}).items()}
        self._unchecked_losses.append((name, self.iteration, loss.detach(), terms))
        if self._logs_this_iteration():
            self.check_finite_losses()
        optimizer = self.optimizers()
        if isinstance(optimizer, list):
            optimizer = optimizer[self._optimizer_index[name]]
        self.toggle_optimizer(optimizer)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self.untoggle_optimizer(optimizer)
        self.log_terms(terms)

    def check_finite_losses(self) -> None:
        """Raise FloatingPointError for the first non-finite loss since the last check."""
        pending, self._unchecked_losses = self._unchecked_losses, []
        if not pending or torch.stack([torch.isfinite(loss).all() for _, _, loss, _ in pending]).all():
            return
        for name, iteration, loss, terms in pending:
            if not torch.isfinite(loss).all():
                bad = [k for k, v in terms.items() if not torch.isfinite(v).all()] or ["the total"]
                raise FloatingPointError(
                    f"loss of optimizer {name!r} is {loss.item()} at iteration {iteration}: "
                    f"non-finite term(s) {', '.join(bad)}"
                )

    def _logs_this_iteration(self) -> bool:
        """Whether Lightning writes this training batch's logs (every trainer.log_every_n_steps
        batches; always outside a Trainer)."""
        trainer = self._trainer
        return trainer is None or (self.iteration + 1) % max(1, trainer.log_every_n_steps) == 0

    def log_terms(self, terms: dict[str, Tensor], prefix: str = "train", batch_size: int | None = None) -> None:
        """Log each term as `<prefix>/<term>` (train/<loss term>, val/<metric>, test/<metric>);
        validation and test values are averaged over all processes. Training terms are logged
        only on the iterations Lightning writes out: a `self.log` call costs about a millisecond
        of Python, and the values of the other iterations would be dropped."""
        if prefix == "train" and not self._logs_this_iteration():
            return
        batch_size = batch_size or self._batch_size
        for key, value in terms.items():
            self.log(f"{prefix}/{key}", value.detach(), batch_size=batch_size, sync_dist=prefix != "train")

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def on_fit_start(self) -> None:
        total = self.n_epochs + self.n_epochs_decay
        if self.lr_policy == "linear" and self.lr_step_unit == "epoch" and self.trainer.max_epochs not in (None, -1, total):
            rank_zero_warn(
                f"trainer.max_epochs={self.trainer.max_epochs} but the linear LR schedule spans "
                f"model.n_epochs + model.n_epochs_decay = {total} epochs"
            )
        if self.trainer.world_size > 1:
            # Every rank built the model from the run's seed (and DDP starts all from rank 0's
            # weights); from here each draws its own dropout masks, shuffles, noise and pool picks.
            _seed_all(torch.initial_seed() + self.trainer.global_rank)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._batch_size = _batch_size(batch)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.iteration += 1
        if self.lr_step_unit == "iteration":
            self._step_schedulers()

    def on_train_epoch_start(self) -> None:
        # Restored here, where training's draws begin, after the sanity check.
        states, self._pending_rng_states = self._pending_rng_states, None
        state = None if states is None else own_rank_state(self._trainer, states, "random states")
        if state is not None:
            _set_rng_state(state)

    # Evaluation draws its random numbers (pix2pix's dropout, random targets) from a fixed seed
    # and hands training its RNG back untouched: how often a run validates changes neither its
    # training nor its scores, and validating a checkpoint reproduces the scores logged in training.
    def on_validation_epoch_start(self) -> None:
        self._isolate_evaluation_rng()

    def on_validation_epoch_end(self) -> None:
        _set_rng_state(self._rng_state_before_evaluation)

    def on_test_epoch_start(self) -> None:
        self._isolate_evaluation_rng()

    def on_test_epoch_end(self) -> None:
        _set_rng_state(self._rng_state_before_evaluation)

    def _isolate_evaluation_rng(self) -> None:
        self._rng_state_before_evaluation = _get_rng_state()
        _seed_all(0)

    def on_train_epoch_end(self) -> None:
        self.check_finite_losses()
        if self.lr_step_unit == "epoch":
            self._step_schedulers()

    # ----------------------------------------------------------------------- exact resume
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite_losses()  # never write weights a non-finite loss has updated
        checkpoint["i2i_zoo"] = {"iteration": self.iteration, "rng": gather_per_rank(self._trainer, _get_rng_state())}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("i2i_zoo", {})
        self.iteration = state.get("iteration", 0)
        self._pending_rng_states = state.get("rng")

    # -------------------------------------------------------------------------- batches
    @staticmethod
    def require(batch: dict[str, Any], *keys: str) -> list[Any]:
        """The batch entries a step needs, with a clear error when the datamodule lacks one."""
        missing = [k for k in keys if k not in batch]
        if missing:
            raise KeyError(
                f"batch lacks {missing}; it has {sorted(batch)}. Use a datamodule that provides "
                f"{list(keys)} (see the batch conventions in docs/architecture.md)"
            )
        return [batch[k] for k in keys]

    # ------------------------------------------------------------------------- inference
    def translate(self, images: Tensor, **conditions: Any) -> Tensor:
        raise NotImplementedError

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Named image rows for the sample grid, e.g. input, output, target."""
        raise NotImplementedError

    # ------------------------------------------------------------------------ evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """The translations of a validation/test batch, by group, with what they are compared to.

        One group per translation the method evaluates: its direction (`AtoB`) for two-domain
        methods, one per target domain for multi-domain methods (metrics are then averaged
        over groups: mFID). Return the same groups for every batch.
        """
        raise NotImplementedError

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, EvalImages]:
        return self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, EvalImages]:
        return self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, Any], stage: str) -> dict[str, EvalImages]:
        """Logs the L1 distance to the aligned ground truth (a cheap per-epoch signal; the
        ImageQualityMetrics callback adds PSNR, SSIM, FID, ...) and returns the images for it."""
        groups = self.evaluation_images(batch)
        distances = {
            f"l1_{name}" if len(groups) > 1 else "l1": F.l1_loss(images.fake, images.target)
            for name, images in groups.items()
            if images.target is not None
        }
        self.log_terms(distances, prefix=stage, batch_size=_batch_size(batch))
        return groups

    def export_generator(self, **conditions: Any) -> nn.Module:
        """The network that maps [-1, 1] images to translated ones for `conditions` (e.g. a
        direction), for deployment (`i2i-zoo export`): what `translate` runs, as a plain module."""
        raise NotImplementedError

    @property
    def size_multiple(self) -> int:
        """Image sides the generator accepts are multiples of this; predict pads to it."""
        return 1

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        (images,) = self.require(batch, "image")
        try:
            with torch.no_grad():
                output = translate_any_size(lambda x: self.translate(x), images, self.size_multiple)
        except ValueError as error:
            raise ValueError(f"cannot translate {', '.join(map(str, batch.get('path', [])))}: {error}") from error
        return {"image": output, "path": batch.get("path")}


@contextmanager
def train_mode_without_stat_updates(module: nn.Module) -> Iterator[None]:
    """Run `module` as in training (dropout on, batch norm on batch statistics) without changing
    its running statistics: the original pix2pix tests this way."""
    was_training = {m: m.training for m in module.modules()}
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracking = [m.track_running_stats for m in norms]
    module.train()
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, flag in zip(norms, tracking):
            m.track_running_stats = flag
        for m, flag in was_training.items():
            m.training = flag


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for `modules` inside the block (e.g. the discriminator while the
    generator's adversarial term is computed); gradients still flow through them to inputs."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def translate_any_size(fn, images: Tensor, multiple: int) -> Tensor:
    """Pad to a multiple of `multiple` (reflect where the image is large enough), translate,
    crop back to the input size."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return fn(images)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    padded = F.pad(images, (0, pad_w, 0, pad_h), mode=mode)
    return fn(padded)[..., :height, :width]


def _batch_size(batch: Any) -> int | None:
    if isinstance(batch, dict):
        for value in batch.values():
            if isinstance(value, Tensor) and value.dim() > 0:
                return value.shape[0]
    return None


def _get_rng_state() -> dict[str, Any]:
    """RNG states as tensors and plain Python values, so `torch.load(weights_only=True)` reads them."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _seed_all(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's and Python's global RNGs, without touching
    Lightning's record of the run's seed (PL_GLOBAL_SEED), as seed_everything would."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
