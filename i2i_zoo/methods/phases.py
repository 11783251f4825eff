"""Training phases: from a given iteration on, some networks are frozen (no gradient, no update)
and held in train or eval mode. Every network and optimizer exists throughout, so checkpoint
keys and the optimizer list are the same in every phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from torch import nn

FROZEN_MODES = ("train", "eval")


@dataclass(frozen=True)
class Phase:
    """A phase starting at iteration `start` (training batches of the method's own count).

    Args:
        name: logged and named in errors.
        start: the first iteration of the phase.
        frozen: submodule path (`G`, `G.blocks`) -> the mode it is held in while frozen: `train`
            (batch statistics are used and running statistics still move, as a frozen generator
            warming up its adaptors) or `eval` (a fixed teacher).
    """

    name: str
    start: int = 0
    frozen: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {path: mode for path, mode in self.frozen.items() if mode not in FROZEN_MODES}
        if bad:
            raise ValueError(f"phase {self.name!r} freezes {bad}: a frozen network's mode is one of {FROZEN_MODES}")


def check_phases(phases: Sequence[Phase], module: nn.Module) -> None:
    """A clear error for phases that do not start at 0, are out of order or name no submodule."""
    starts = [phase.start for phase in phases]
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise ValueError(f"phases must start at iteration 0, in increasing order; got {[(p.name, p.start) for p in phases]}")
    for phase in phases:
        for path in phase.frozen:
            try:
                module.get_submodule(path)
            except AttributeError as error:
                raise ValueError(f"phase {phase.name!r} freezes {path!r}, which {type(module).__name__} does not have") from error


def phase_at(phases: Sequence[Phase], iteration: int) -> Phase:
    return [phase for phase in phases if phase.start <= iteration][-1]


def enter(phase: Phase, phases: Sequence[Phase], module: nn.Module) -> None:
    """Unfreeze what any phase freezes, then freeze what `phase` does; idempotent."""
    for path in {path for other in phases for path in other.frozen}:
        module.get_submodule(path).requires_grad_(path not in phase.frozen)
    hold_modes(phase, phases, module)


def hold_modes(phase: Phase, phases: Sequence[Phase], module: nn.Module) -> None:
    """Frozen networks in their phase's mode, the others that phases manage in train mode (Lightning
    puts the whole module back in train mode after validation)."""
    for path in {path for other in phases for path in other.frozen}:
        module.get_submodule(path).train(phase.frozen.get(path, "train") == "train")
