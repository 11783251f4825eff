"""Mechanics shared by every method: optimizer stepping and accumulation, LR schedules, phases,
moving averages, run length, logging, exact resume, translate/predict plumbing. A method owns its
networks, its losses and the order of its steps."""

from __future__ import annotations

import inspect
import random
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Callable, ClassVar, Iterator

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from i2i_zoo.callbacks.checkpoint_io import read_checkpoint
from i2i_zoo.distributed import gather_per_rank, own_rank_state
from i2i_zoo.methods.ema import ema_copy, update_ema
from i2i_zoo.methods.optimizers import OptimizerSpec, Schedule, split_batch
from i2i_zoo.methods.options import check_options
from i2i_zoo.methods.phases import Phase, check_phases, enter, hold_modes, phase_at

@dataclass
class EvalImages:
    """Images of one validation or test batch for the metrics, all in [-1, 1], NCHW.

    Attributes:
        fake: translated images.
        real: real images of the domain `fake` belongs to (FID, KID); any number, may be empty.
        target: the aligned ground truth of each fake, where the data has one (PSNR, SSIM, LPIPS, L1).
        baseline: what a reference method makes of the same inputs (bicubic upsampling for
            super-resolution), scored against `target` beside `fake` (`psnr_baseline`, ...).
        labels: the target labels of each fake, for classifiers of the translations
            (AttributeClassificationError): (N,) class indices for exclusive domains, or (N, K)
            0/1 float attribute vectors.
        source: the inputs each fake was translated from (FCNScore segments a translated photo and
            scores it against the label map it came from); None where a method does not give them.
    """

    fake: Tensor
    real: Tensor | None = None
    target: Tensor | None = None
    baseline: Tensor | None = None
    labels: Tensor | None = None
    source: Tensor | None = None


class I2IMethod(L.LightningModule):
    """Base of every translation method (manual optimization, several named optimizers).

    Subclasses implement `optimizer_specs()` (name -> `OptimizerSpec`, in the order the
    optimizers are created), `training_step` (calling `optimize` once per update), `translate`,
    `evaluation_images` (what validation and the metrics compare) and `visuals` (images for the
    sample-grid callback); optionally `phases()`. A method with `ema_decay` calls `init_ema()`
    at the end of its `__init__`, once its generators exist. See docs/architecture.md.

    Args:
        ema_decay: decay of the moving averages `<net>_ema` of the generators (`generator_names`),
            which then serve validation, predict and export; 0: none.
        ema_start: iterations before which the averages copy the weights.
        max_iterations: training batches after which training stops (the run length of methods
            whose papers count iterations); None: the Trainer's limits alone.
    """

    # Init arguments that only choose how a trained model runs (e.g. the target of predict): the
    # command line may set them for validate/test/predict from a checkpoint, whose other
    # settings are the checkpoint's.
    inference_options: ClassVar[tuple[str, ...]] = ()
    # Init arguments added after checkpoints of the method were written, with the value those
    # checkpoints were trained with where today's default differs: their hyperparameters lack them.
    options_before: ClassVar[dict[str, Any]] = {}
    # A method that generates images (BigGAN: `generate(y, z)`, predict writes samples per class)
    # rather than translating them: it has no translate, input_channels or export_generator.
    generates: ClassVar[bool] = False
    # The attributes holding the generators (what CompileNetworks compiles and EMA averages).
    generator_names: ClassVar[tuple[str, ...]] = ("G",)

    @classmethod
    def stored_hparams(cls, hparams: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint's hyperparameters, completed with `options_before` for options it predates."""
        return {**cls.options_before, **hparams}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, *args, **kwargs):  # type: ignore[override]
        """Lightning's, for checkpoints written before an option in `options_before` existed too."""
        if cls.options_before:
            stored = read_checkpoint(checkpoint_path).get("hyper_parameters") or {}
            kwargs = {**{k: v for k, v in cls.options_before.items() if k not in stored}, **kwargs}
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def __init__(self, ema_decay: float = 0.0, ema_start: int = 0, max_iterations: int | None = None):
        super().__init__()
        if not 0 <= ema_decay < 1:
            raise ValueError(f"model.ema_decay={ema_decay} must be in [0, 1) (0: no moving average)")
        if ema_start < 0:
            raise ValueError(f"model.ema_start={ema_start} must be at least 0")
        if max_iterations is not None and max_iterations < 1:
            raise ValueError(f"model.max_iterations={max_iterations} must be at least 1 (or null: no limit)")
        self.automatic_optimization = False
        self.ema_decay, self.ema_start, self.max_iterations = ema_decay, ema_start, max_iterations
        # Training batches processed; Lightning's global_step counts optimizer steps instead.
        self.iteration = 0
        self._optimizer_index: dict[str, int] = {}
        self._accumulation: dict[str, int] = {}
        self._schedules: list[Schedule] = []
        self._ema_owners: dict[str, list[str]] = {}  # optimizer -> generators it updates
        self._active_phase: str | None = None  # entered on the first batch of every run
        self._batch_size: int | None = None
        self._pending_rng_states: list[dict[str, Any]] | None = None  # see gather_per_rank
        # (optimizer, iteration, loss, terms) of the updates since the last finiteness check.
        self._unchecked_losses: list[tuple[str, int, Tensor, dict[str, Tensor]]] = []
        # The validation scores `_evaluate` has logged, by full name (see on_validation_epoch_start).
        self._validation_names: set[str] = set()

    def save_hyperparameters(self, *args: Any, frame: FrameType | None = None, **kwargs: Any) -> None:
        """Lightning's, then the range checks of the options every method names alike (learning
        rates, loss weights, betas, n_critic: `i2i_zoo.methods.options`), so a method's
        `self.save_hyperparameters()` checks them once its own arguments are known."""
        # Lightning reads the __init__ arguments from the caller's frame, which is now one further up.
        super().save_hyperparameters(*args, frame=frame or inspect.currentframe().f_back, **kwargs)
        check_options(self.hparams)

    # ------------------------------------------------------------------ optimizers and schedules
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        raise NotImplementedError

    def configure_optimizers(self):
        specs = self.optimizer_specs()
        self._optimizer_index = {name: i for i, name in enumerate(specs)}
        self._accumulation = {name: spec.accumulation for name, spec in specs.items()}
        self._schedules = [spec.schedule for spec in specs.values()]
        optimizers = [spec.build() for spec in specs.values()]
        self._ema_owners = {}
        for net in self.ema_networks():
            first = next(getattr(self, net).parameters())
            owner = next((name for name, opt in zip(specs, optimizers) if _holds(opt, first)), None)
            if owner is None:
                raise ValueError(f"no optimizer of {type(self).__name__} updates {net}, whose moving average model.ema_decay asks for")
            self._ema_owners.setdefault(owner, []).append(net)
        return optimizers, [spec.schedule.build(opt) for spec, opt in zip(specs.values(), optimizers)]

    def optimize(
        self,
        name: str,
        loss: Tensor | Callable[[Any], tuple[Tensor, dict[str, Tensor]]],
        terms: dict[str, Tensor] | None = None,
        batch: Any = None,
    ) -> None:
        """One update of optimizer `name`: only its parameters get gradients (toggle), then
        zero_grad, backward (scaled under mixed precision), step, and the moving averages of the
        generators it updates. `terms` are logged as `train/<term>`, the total on the progress
        bar as `loss_<name>`.

        `loss` is the loss tensor, or, for an optimizer that accumulates k micro-batches, a
        function of a micro-batch returning (loss, terms): `batch` is cut into k parts, each
        back-propagated with loss / k (under DDP only the last synchronises gradients), then one
        step; the logged terms are averaged over the parts. An optimizer whose parameters the
        current phase all freezes does nothing.

        A non-finite loss, parameter or buffer stops training with an error naming the
        optimizer and terms, or the tensor, at fault and the iteration; see
        `check_finite_losses`."""
        optimizer = self._optimizer_list()[self._optimizer_index[name]]
        if not any(p.requires_grad for group in optimizer.param_groups for p in group["params"]):
            return
        parts = self._accumulation.get(name, 1)
        optimizer.zero_grad(set_to_none=True)
        if isinstance(loss, Tensor):
            if parts > 1:
                raise ValueError(
                    f"optimizer {name!r} accumulates {parts} micro-batches: pass optimize() a function of the "
                    "micro-batch returning (loss, terms), and the batch"
                )
            with optimizer.toggle_model():
                self.manual_backward(loss)
            terms = {key: value.detach() for key, value in (terms or {}).items()}
        else:
            losses, micro_terms = [], []
            for index, micro_batch in enumerate(split_batch(batch, parts)):
                with optimizer.toggle_model(sync_grad=index == parts - 1):
                    micro_loss, micro = loss(micro_batch)
                    self.manual_backward(micro_loss / parts)
                losses.append(micro_loss.detach())
                micro_terms.append(micro)
            loss = torch.stack(losses).mean()
            terms = {key: torch.stack([t[key].detach() for t in micro_terms]).mean() for key in micro_terms[0]}
        self._unchecked_losses.append((name, self.iteration, loss.detach(), terms))
        if self._logs_this_iteration():
            self.check_finite_losses(self.iteration)
        optimizer.step()
        for net in self._ema_owners.get(name, ()):
            decay = self.ema_decay if self.iteration >= self.ema_start else 0.0
            update_ema(getattr(self, f"{net}_ema"), getattr(self, net), decay)
        self.log_terms(terms)
        if self._logs_this_iteration():
            # The bar's view of training; the terms above are the curves.
            self.log(f"loss_{name}", loss.detach(), prog_bar=True, logger=False, batch_size=self._batch_size)

    def check_finite_losses(self, iteration: int | None = None) -> None:
        """Raise FloatingPointError for the first non-finite loss since the last check, else for
        the first non-finite parameter or buffer (a huge learning rate can overflow batch-norm
        statistics while every loss stays finite). `iteration`: the last training batch the
        weights have seen (default: the last one done).

        Called on the iterations Lightning logs, at the end of an epoch and before a checkpoint
        is written, never on every iteration: the check waits for the GPU, once when all is finite."""
        pending, self._unchecked_losses = self._unchecked_losses, []
        tensors = [
            (kind, name, tensor)
            for kind, named in (("parameter", self.named_parameters()), ("buffer", self.named_buffers()))
            for name, tensor in named
            if tensor.is_floating_point()
        ]
        flags = [torch.isfinite(loss).all() for _, _, loss, _ in pending] + [torch.isfinite(t).all() for _, _, t in tensors]
        if not flags or torch.stack(flags).all():
            return
        for name, loss_iteration, loss, terms in pending:
            if not torch.isfinite(loss).all():
                bad = [k for k, v in terms.items() if not torch.isfinite(v).all()] or ["the total"]
                raise FloatingPointError(
                    f"loss of optimizer {name!r} is {loss.item()} at iteration {loss_iteration}: "
                    f"non-finite term(s) {', '.join(bad)}"
                )
        iteration = self.iteration - 1 if iteration is None else iteration
        when = f"at iteration {iteration}" if iteration >= 0 else "before training"
        for kind, name, tensor in tensors:
            finite = torch.isfinite(tensor)
            if not finite.all():
                raise FloatingPointError(
                    f"{kind} {name} of {type(self).__name__} is non-finite ({int((~finite).sum())} of {tensor.numel()} "
                    f"values) {when}: training diverged (learning rates too high?)"
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
        # A float count: Lightning's integer one is floored by its mean over processes, which
        # inflates the synced mean when ranks evaluate different numbers of images (Lightning
        # issue #21859).
        count = None if batch_size is None else float(batch_size)
        for key, value in terms.items():
            self.log(f"{prefix}/{key}", value.detach(), batch_size=count, sync_dist=prefix != "train")

    def _optimizer_list(self) -> list:
        """The LightningOptimizers in `optimizer_specs` order (Lightning gives one alone unlisted)."""
        optimizers = self.optimizers()
        return optimizers if isinstance(optimizers, list) else [optimizers]

    def _step_schedules(self, unit: str) -> None:
        """Advance every schedule counted in `unit`, whether its optimizer stepped or not (the
        rate is a function of the count: PyTorch's warning about a schedule stepped before its
        optimizer does not apply, e.g. to StarGAN's G, which steps every n_critic-th iteration)."""
        schedulers = self.lr_schedulers()
        schedulers = [] if schedulers is None else schedulers if isinstance(schedulers, list) else [schedulers]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`")
            for scheduler, schedule in zip(schedulers, self._schedules):
                if schedule.unit == unit:
                    scheduler.step()

    def _log_learning_rates(self) -> None:
        """`lr-<optimizer>` (its first group's rate), and `lr-<optimizer>/<group>` for the other
        named groups."""
        rates = {}
        for name, optimizer in zip(self._optimizer_index, self._optimizer_list()):
            groups = optimizer.param_groups
            rates[f"lr-{name}"] = groups[0]["lr"]
            rates.update({f"lr-{name}/{g.get('name', i)}": g["lr"] for i, g in enumerate(groups[1:], 1)})
        for key, rate in rates.items():
            self.log(key, float(rate), batch_size=self._batch_size)

    # ------------------------------------------------------------------------ phases and EMA
    def phases(self) -> list[Phase]:
        """The training phases, in order, the first at iteration 0; a phase freezes networks (see
        Phase). One phase by default."""
        return [Phase("train")]

    def current_phase(self) -> Phase:
        return phase_at(self.phases(), self.iteration)

    def ema_networks(self) -> tuple[str, ...]:
        """The generators averaged into `<net>_ema` (all of `generator_names` with ema_decay)."""
        return self.generator_names if self.ema_decay > 0 else ()

    def init_ema(self) -> None:
        """Create the moving-average copies `<net>_ema`: called by a method at the end of its
        `__init__`, so they are in its state dict (and checkpoints) from the start."""
        for net in self.ema_networks():
            self.add_module(f"{net}_ema", ema_copy(getattr(self, net)))

    def inference_net(self, name: str) -> nn.Module:
        """The network that translates for validation, predict and export: the moving average
        `<name>_ema` where there is one, else `name` itself."""
        return getattr(self, f"{name}_ema") if name in self.ema_networks() else getattr(self, name)

    # ------------------------------------------------------------------------ training loop
    def on_fit_start(self) -> None:
        missing = [net for net in self.ema_networks() if not hasattr(self, f"{net}_ema")]
        if missing:
            raise RuntimeError(f"{type(self).__name__} sets ema_decay but has no {missing}_ema: call self.init_ema() at the end of __init__")
        check_phases(self.phases(), self)
        self._active_phase = None
        for schedule in self._schedules:
            if schedule.name == "linear" and schedule.unit == "epoch":
                total = schedule.args["n_constant"] + schedule.args["n_decay"]
                if self.trainer.max_epochs not in (None, -1, total):
                    rank_zero_warn(
                        f"trainer.max_epochs={self.trainer.max_epochs} but the linear LR schedule spans "
                        f"model.n_epochs + model.n_epochs_decay = {total} epochs"
                    )
                    break
        if self.trainer.world_size > 1:
            # Every rank built the model from the run's seed (and DDP starts all from rank 0's
            # weights); from here each draws its own dropout masks, shuffles, noise and pool picks.
            _seed_all(torch.initial_seed() + self.trainer.global_rank)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.max_iterations is not None and self.iteration >= self.max_iterations:
            self.trainer.should_stop = True
            return -1  # a run resumed at its end trains no further
        self._batch_size = _batch_size(batch)
        phases = self.phases()
        phase = phase_at(phases, self.iteration)
        if phase.name != self._active_phase:
            enter(phase, phases, self)
            self._active_phase = phase.name
        else:
            hold_modes(phase, phases, self)
        return None

    def configure_callbacks(self) -> list[L.Callback]:
        return [_EndOfIteration()]

    def end_iteration(self) -> None:
        """Count the training batch and advance what follows the count: schedules per iteration,
        the run length."""
        if self._logs_this_iteration():
            self._log_learning_rates()
        self.iteration += 1
        self._step_schedules("iteration")
        if self.max_iterations is not None and self.iteration >= self.max_iterations:
            self.trainer.should_stop = True

    def on_train_start(self) -> None:
        # Restored here, where training's draws begin: after the sanity check, and on every fit
        # (Lightning skips on_train_epoch_start when it resumes mid-epoch).
        states, self._pending_rng_states = self._pending_rng_states, None
        state = None if states is None else own_rank_state(self._trainer, states, "random states")
        if state is not None:
            _set_rng_state(state)

    # Evaluation draws its random numbers (pix2pix's dropout, random targets) from a fixed seed
    # and hands training its RNG back untouched: how often a run validates changes neither its
    # training nor its scores, and validating a checkpoint reproduces the scores logged in training.
    def on_validation_epoch_start(self) -> None:
        self._isolate_evaluation_rng()
        # Lightning keeps every value ever logged in callback_metrics: a score this validation does
        # not log again (a group gone, a phase's namespace changed) must not stay on show, as the
        # metric callbacks (ScheduledEvaluation) drop theirs.
        if self._trainer is not None:
            for name in self._validation_names:
                self.trainer.callback_metrics.pop(name, None)

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
        self._step_schedules("epoch")

    # ----------------------------------------------------------------------- exact resume
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite_losses()  # never write non-finite weights, nor weights a non-finite loss updated
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

    # Inserted between the stage and the name of every evaluation metric (`val/<namespace>l1`, and
    # by the metric callbacks): '' or a str ending in '/'. A method whose evaluation changes meaning
    # during training (BiL-GAN's high-resolution phase: 'phase2/') sets it or overrides it with a
    # property, so the scores of its settings are logged, charted and monitored apart.
    metric_namespace: str = ""

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, EvalImages]:
        return self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, EvalImages]:
        return self._evaluate(batch, "test")

    def _evaluate(self, batch: dict[str, Any], stage: str) -> dict[str, EvalImages]:
        """Logs the L1 distance to the aligned ground truth (a cheap per-epoch signal; the
        ImageQualityMetrics callback adds PSNR, SSIM, FID, ...) and returns the images for it."""
        groups = self.evaluation_images(batch)
        distances = {
            self.metric_namespace + (f"l1_{name}" if len(groups) > 1 else "l1"): F.l1_loss(images.fake, images.target)
            for name, images in groups.items()
            if images.target is not None
        }
        self.log_terms(distances, prefix=stage, batch_size=_batch_size(batch))
        if stage == "val":
            self._validation_names.update(f"{stage}/{key}" for key in distances)
        return groups

    def export_generator(self, **conditions: Any) -> nn.Module:
        """The network that maps [-1, 1] images to translated ones for `conditions` (e.g. a
        direction), for deployment (`i2i-zoo export`): what `translate` runs, as a plain module."""
        raise NotImplementedError

    @property
    def size_multiple(self) -> int:
        """Image sides the generator accepts are multiples of this; predict pads to it."""
        return 1

    def input_channels(self) -> int:
        """The channels of the images `translate` takes under the inference options (e.g. the
        direction): predict converts every image to this count, as training converts."""
        raise NotImplementedError

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """`{"image": translations, "path": inputs}`; a batch of files the data could not read
        (`error`: the reasons) passes through untranslated, for the writer to report and skip."""
        if "error" in batch:
            return {"path": batch.get("path"), "error": batch["error"]}
        try:
            with torch.no_grad():
                output = self.predict_images(batch)
        except ValueError as error:
            raise ValueError(f"cannot translate {', '.join(map(str, batch.get('path', [])))}: {error}") from error
        return {"image": output, "path": batch.get("path")}

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        """What predict writes for a batch of `image` (any size): by default their translation,
        padded to `size_multiple` and cropped back."""
        (images,) = self.require(batch, "image")
        return translate_any_size(lambda x: self.translate(x), images, self.size_multiple)


class _EndOfIteration(L.Callback):
    """Ends each iteration of an I2IMethod in the callbacks' `on_train_batch_end`, which Lightning
    runs before the module's and, for checkpoint callbacks, last: a checkpoint written after a
    batch (`ModelCheckpoint(every_n_train_steps=...)`) holds the count and schedules of that batch
    done, and resumes exactly from there."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: I2IMethod, outputs: Any, batch: Any, batch_idx: int) -> None:
        pl_module.end_iteration()


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


def file_seed(seed: int, path: str) -> int:
    """A seed of its own for each input file (by name) of a predict run seeded with `seed`, so a
    file's random draws do not depend on the batch it comes in."""
    return seed * 1_000_003 + zlib.crc32(Path(path).name.encode())


def _holds(optimizer: torch.optim.Optimizer, parameter: nn.Parameter) -> bool:
    return any(p is parameter for group in optimizer.param_groups for p in group["params"])


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
