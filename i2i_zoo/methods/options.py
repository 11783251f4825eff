"""Range checks of the options every method names alike (learning rates, loss weights, Adam betas,
update intervals), run on a method's saved hyperparameters, so each is written once and a bad value
fails when the method is built, naming the option, instead of deep in torch or as a run that
diverges."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Mapping

# (which options, the rule, the rule in words, what such an option is)
RULES: tuple[tuple[Callable[[str], bool], Callable[[float], bool], str, str], ...] = (
    (lambda name: name == "lr" or name.startswith("lr_"), lambda v: v > 0, "> 0",
     "a learning rate or a number of its schedule"),
    (lambda name: name.startswith("lambda") or name.endswith("_weight"), lambda v: v >= 0, ">= 0",
     "a loss weight; 0 turns its term off"),
    (lambda name: name == "n_critic" or name.endswith("_every_n_iterations"), lambda v: v >= 1, ">= 1",
     "iterations per generator update"),
)


def check_options(hparams: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first option out of its range: learning rates (`lr`, `lr_*`)
    > 0, loss weights (`lambda*`, `*_weight`) >= 0, update intervals (`n_critic`,
    `*_every_n_iterations`) >= 1, all finite; `betas` two numbers in [0, 1). Options that are not
    numbers (`lr_policy`) are left to their method."""
    for name, value in hparams.items():
        if name == "betas" and not _is_betas(value):
            raise ValueError(f"model.betas={value!r} must be two numbers in [0, 1) (Adam's moment decays)")
        if not isinstance(value, Real) or isinstance(value, bool):
            continue
        for applies, holds, bound, what in RULES:
            if applies(name) and not (math.isfinite(value) and holds(value)):
                finite = "" if math.isfinite(value) else " and finite"
                raise ValueError(f"model.{name}={value!r} must be {bound}{finite} ({what})")


def _is_betas(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(beta, Real) and not isinstance(beta, bool) and 0 <= beta < 1 for beta in value)
    )
