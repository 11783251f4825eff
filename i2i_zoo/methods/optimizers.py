"""What a method declares about each of its optimizers (`OptimizerSpec`) and the learning-rate
schedules they follow (`Schedule`); `I2IMethod.configure_optimizers` builds both from these.

A spec holds plain data (numbers, names, class paths), never a stored callable, so recipes can
set it and checkpoints hold nothing but tensors and plain values."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Union

import torch
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, LambdaLR, LRScheduler

SCHEDULE_UNITS = ("epoch", "iteration")
# The `lr_policy` choices of most methods (`policy_schedule`'s default).
LR_POLICIES = ("linear", "constant")
LrPolicy = Literal[LR_POLICIES]
# The parameters of one optimizer: an iterable of parameters, or parameter groups (dicts with
# "params" and optionally "lr", "name" and any other per-group optimizer argument).
Parameters = Union[Iterable[nn.Parameter], list[dict[str, Any]]]


class ConstantFactor:
    """Factor 1 throughout."""

    def __call__(self, step: int) -> float:
        return 1.0


class LinearDecay:
    """The original pix2pix/CycleGAN rule: factor 1 for `n_constant` steps, then linear decay
    reaching 1 / (n_decay + 1) in the last step. A class (not a lambda) so LambdaLR keeps its
    numbers in checkpoints."""

    def __init__(self, n_constant: int, n_decay: int):
        self.n_constant = n_constant
        self.n_decay = n_decay

    def __call__(self, step: int) -> float:
        return 1.0 - max(0, step + 1 - self.n_constant) / float(self.n_decay + 1)


class StarGANDecay:
    """The original StarGAN's rule by iteration: once more than `num_iters - num_iters_decay`
    iterations are done, every `lr_update_step`-th lowers the rate by 1 / num_iters_decay of its
    initial value. With the defaults (100 000, 1000) that is 100 steps of 1e-5: the rate ends at
    0.999 of its start, as in the original; `lr_update_step: 1` decays linearly to 0 at `num_iters`.
    Called with the iterations done."""

    def __init__(self, num_iters: int, num_iters_decay: int, lr_update_step: int):
        self.num_iters, self.num_iters_decay, self.lr_update_step = num_iters, num_iters_decay, lr_update_step

    def __call__(self, iterations: int) -> float:
        start = self.num_iters - self.num_iters_decay
        updates = max(0, iterations // self.lr_update_step - start // self.lr_update_step)
        # Past num_iters the original would go on to negative rates; stop at 0.
        return max(0.0, 1.0 - updates / self.num_iters_decay)


def _exponential(optimizer: torch.optim.Optimizer, rate: float) -> LRScheduler:
    return ExponentialLR(optimizer, rate)


# Named schedules: factor classes (wrapped in LambdaLR) or scheduler builders taking the optimizer.
FACTORS = {"constant": ConstantFactor, "linear": LinearDecay, "stargan": StarGANDecay}
BUILDERS = {"exponential": _exponential}
SCHEDULE_NAMES = (*FACTORS, *BUILDERS)


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: the factor of the initial rate as a function of the iteration
    (training batches) or the epoch, advanced for every optimizer whether it stepped or not.

    Args:
        name: `constant`, `linear` (n_constant, n_decay), `stargan` (num_iters, num_iters_decay,
            lr_update_step), `exponential` (rate per unit), or the class path of a
            `torch.optim.lr_scheduler.LRScheduler` (built with the optimizer and `args`) or of a
            factor class (built with `args`, called with the step).
        args: the schedule's numbers.
        unit: `epoch` or `iteration`: what one step of the schedule is.
    """

    name: str = "constant"
    args: dict[str, Any] = field(default_factory=dict)
    unit: str = "epoch"

    def __post_init__(self) -> None:
        if self.unit not in SCHEDULE_UNITS:
            raise ValueError(f"schedule unit {self.unit!r} is unknown; choose one of {SCHEDULE_UNITS}")
        if self.name not in SCHEDULE_NAMES and "." not in self.name:
            raise ValueError(f"schedule {self.name!r} is unknown; choose one of {SCHEDULE_NAMES} or a class path")
        self.build(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0))  # bad numbers fail now

    def build(self, optimizer: torch.optim.Optimizer) -> LRScheduler:
        if self.name in FACTORS:
            return LambdaLR(optimizer, FACTORS[self.name](**self.args))
        if self.name in BUILDERS:
            return BUILDERS[self.name](optimizer, **self.args)
        cls = import_class(self.name, "schedule")
        if isinstance(cls, type) and issubclass(cls, LRScheduler):
            return cls(optimizer, **self.args)
        return LambdaLR(optimizer, cls(**self.args))


@dataclass
class OptimizerSpec:
    """One named optimizer of a method.

    Args:
        params: its parameters, or parameter groups (dicts with `params` and optionally `lr`,
            `name` (logged as `lr-<optimizer>/<name>`) and other per-group arguments).
        lr: the learning rate of groups that set none.
        optimizer: class path of a `torch.optim.Optimizer`.
        args: its other arguments (betas, eps, weight_decay, ...).
        schedule: the learning-rate schedule.
        accumulation: micro-batches per step: `optimize` splits the training batch into this many
            parts, back-propagates each (loss / accumulation) and steps once.
    """

    params: Parameters
    lr: float
    optimizer: str = "torch.optim.Adam"
    args: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=Schedule)
    accumulation: int = 1

    def __post_init__(self) -> None:
        if self.accumulation < 1:
            raise ValueError(f"accumulation={self.accumulation} must be at least 1 (micro-batches per step)")

    def build(self) -> torch.optim.Optimizer:
        params = list(self.params)
        if params and isinstance(params[0], dict):
            params = [{**group, "params": list(group["params"])} for group in params]
        cls = import_class(self.optimizer, "optimizer")
        return cls(params, lr=self.lr, **self.args)


def import_class(path: str, what: str) -> Any:
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"{what} class {path!r} cannot be imported: {error}") from error


def split_batch(batch: Any, parts: int) -> list[Any]:
    """`batch` (a tensor, or a dict, list or tuple of tensors and per-sample lists) cut along its
    first dimension into `parts` equal micro-batches."""
    if parts == 1:
        return [batch]
    if isinstance(batch, torch.Tensor):
        return list(batch.split(_part_size(len(batch), parts)))
    if isinstance(batch, dict):
        columns = {key: split_batch(value, parts) for key, value in batch.items()}
        return [{key: column[i] for key, column in columns.items()} for i in range(parts)]
    if isinstance(batch, (list, tuple)):
        if batch and not isinstance(batch[0], (torch.Tensor, dict, list, tuple)):
            size = _part_size(len(batch), parts)  # a per-sample list such as paths
            return [type(batch)(batch[i * size : (i + 1) * size]) for i in range(parts)]
        columns = [split_batch(value, parts) for value in batch]
        return [type(batch)(column[i] for column in columns) for i in range(parts)]
    return [batch] * parts  # a scalar or None shared by all micro-batches


def _part_size(size: int, parts: int) -> int:
    if size % parts:
        raise ValueError(f"a batch of {size} does not split into {parts} equal micro-batches (accumulation)")
    return size // parts


def policy_schedule(
    lr_policy: str,
    choices: tuple[str, ...] = LR_POLICIES,
    n_epochs: int = 100,
    n_epochs_decay: int = 100,
    lr_decay_rate: float = 0.96,
) -> Schedule:
    """The per-epoch schedule of a method's `lr_policy` option: `linear` (constant for n_epochs,
    then linear decay over n_epochs_decay), `constant` or `exponential` (x lr_decay_rate per
    epoch), with an error naming the option."""
    if lr_policy not in choices:
        raise ValueError(f"model.lr_policy={lr_policy!r} is unknown; choose one of {choices}")
    args = {
        "linear": {"n_constant": n_epochs, "n_decay": n_epochs_decay},
        "constant": {},
        "exponential": {"rate": lr_decay_rate},
    }[lr_policy]
    return Schedule(lr_policy, args, unit="epoch")


def adam_pair(
    generator: Parameters, discriminator: Parameters, lr_g: float, lr_d: float, betas: tuple[float, float], schedule: Schedule
) -> dict[str, OptimizerSpec]:
    """The optimizers of most GANs here: Adam `G` then Adam `D`, with one betas and one schedule."""
    adam = {"betas": tuple(betas)}
    return {
        "G": OptimizerSpec(generator, lr_g, args=adam, schedule=schedule),
        "D": OptimizerSpec(discriminator, lr_d, args=adam, schedule=schedule),
    }
