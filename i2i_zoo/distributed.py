"""Distributed training: the strategy the recipes name, and per-rank state in checkpoints.

`ddp_gan` (`--trainer.strategy ddp_gan`, `recipes/ddp.yaml`) is registered in Lightning's
StrategyRegistry when this module is imported (by `i2i_zoo.methods`, through its base class).

A GAN step leaves parameters out of the graph: the discriminator takes no part in the
generator's update, and each `optimize` toggles the other optimizers' parameters off. Plain DDP
then waits for their gradients and fails ("parameters that were not used"), so DDP has to look
for unused parameters after every backward (one traversal of the autograd graph). One wrapper
with that search is simpler than separate wrappers per network, which Lightning's DDP, wrapping
the one LightningModule, does not offer.

Nothing else is set: `static_graph=True` fails (the used parameters change between the D and G
updates of one step), and `gradient_as_bucket_view=True` made no measurable difference (2 CPU
processes, small 64 px models: pix2pix 122-140 ms/it, CycleGAN 417-436 ms/it with or without).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from lightning.pytorch.utilities import rank_zero_warn

STRATEGY = "ddp_gan"

# The process group backend is Lightning's choice: nccl on GPUs, gloo on CPUs.
StrategyRegistry.register(
    STRATEGY,
    DDPStrategy,
    description="DDP for GANs: find_unused_parameters=True (each step updates only some networks)",
    find_unused_parameters=True,
)


# Each rank draws its own random numbers (RNGs, data streams, image pools) and rank 0 alone writes
# a checkpoint, so such state is gathered into a list by global rank and each rank restores its own.


def world(trainer: L.Trainer | None) -> tuple[int, int]:
    """The number of processes and this one's global rank; (1, 0) outside a Trainer."""
    return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)


def gather_per_rank(trainer: L.Trainer | None, state: Any) -> list[Any]:
    """Every rank's `state` (picklable CPU objects), by global rank; `[state]` outside DDP."""
    world_size, _ = world(trainer)
    if world_size == 1:
        return [state]
    states: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(states, state)
    return states


def own_rank_state(trainer: L.Trainer | None, states: Any, what: str) -> Any:
    """This rank's entry of a `gather_per_rank` list (a dict is one process's state, as written
    before state was kept per rank), or None, with a warning naming `what`, when the checkpoint
    was written by another number of processes."""
    if isinstance(states, dict):
        states = [states]
    world_size, rank = world(trainer)
    if len(states) != world_size:
        rank_zero_warn(
            f"the checkpoint holds the {what} of {len(states)} process(es), this run has {world_size}: "
            "they are not restored and the resume is not exact"
        )
        return None
    return states[rank]
