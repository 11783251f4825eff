"""The training data stream: ``(index, seed)`` keys drawn in the main process from the
datamodule's checkpointed generators, and the datasets that take each item's randomness from its
key, so the stream is the same with any number of workers and a resumed run replays it exactly,
mid-epoch included."""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


class _RandomDataset(Dataset):
    """A dataset whose random choices for an item come from the seed in the item's key.

    Training loaders index it with ``(index, seed)`` keys that the datamodule's sampler draws in
    the main process from its checkpointed generator, so the data stream is the same with any
    number of workers, persistent or not, and a resumed run replays it. A plain index (evaluation,
    direct use) seeds its own item. Subclasses implement ``_item(index, generator)``."""

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | str]:
        index, seed = key if isinstance(key, tuple) else (key, key)
        return self._item(index, torch.Generator().manual_seed(seed))

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        raise NotImplementedError



class _StreamSampler(DistributedSampler):
    """Training keys ``(index, seed)`` for a ``_RandomDataset``: this process's share of a
    permutation drawn from ``order`` (in the same state on every process), each index with a seed
    drawn from ``stream`` (this process's own). Both are the datamodule's checkpointed generators,
    so an epoch's draws depend on nothing else: not on the workers, nor on Lightning's epoch
    counter. It is a DistributedSampler because Lightning wraps any other sampler under DDP.

    For checkpoints written within an epoch it keeps the generators' states from before the
    epoch's draw (``before_draw``), and a resumed run's first epoch skips the ``skip`` samples
    that the interrupted run consumed."""

    def __init__(
        self, dataset: Dataset, order: torch.Generator, stream: torch.Generator, num_replicas: int, rank: int,
        skip: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, drop_last=False)
        self.order, self.stream = order, stream
        self.skip = skip
        self.before_draw: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_epoch(self, epoch: int) -> None:
        # Lightning calls this before each epoch (a resumed one included) and before its draw,
        # which comes with its first batch (_StreamLoader): until then, none is this epoch's.
        super().set_epoch(epoch)
        self.before_draw = None

    def __iter__(self):
        self.before_draw = (self.order.get_state(), self.stream.get_state())
        permutation = torch.randperm(len(self.dataset), generator=self.order)
        # Padded by repeating the permutation, as DistributedSampler, so every process has num_samples.
        padded = permutation.repeat(math.ceil(self.total_size / len(permutation)))[: self.total_size]
        indices = padded[self.rank : self.total_size : self.num_replicas].tolist()
        seeds = torch.randint(2**62, (len(indices),), generator=self.stream).tolist()
        skip, self.skip = self.skip, 0
        return itertools.islice(zip(indices, seeds), skip, None)


class _StreamLoader(DataLoader):
    """The training DataLoader: its iterators start, and so draw the epoch, at their first batch
    whatever the number of workers (with workers a DataLoader starts prefetching when the iterator
    is made). Lightning makes iterators it never reads, e.g. on resuming a checkpoint that
    validation wrote after an epoch's last batch: one of those must not use up an epoch's draw."""

    def __iter__(self):
        return _Deferred(super().__iter__)


class _Deferred:
    """An iterator made by ``start`` when its first item is asked for."""

    def __init__(self, start: Callable[[], Iterator]) -> None:
        self._start: Callable[[], Iterator] | None = start
        self._iterator: Iterator | None = None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            self._iterator, self._start = self._start(), None
        return next(self._iterator)


def _batches_done(trainer: L.Trainer | None) -> int | None:
    """How many batches of the current training epoch a run resumed from a checkpoint written
    now will not run again, read from Lightning's record of progress as its loops read it on a
    restart (_FitLoop.reset, _TrainingEpochLoop.reset); None when that run starts a new epoch."""
    fit_loop = getattr(trainer, "fit_loop", None)
    if fit_loop is None:
        return None
    epoch = fit_loop.epoch_progress.current
    if epoch.processed >= epoch.ready:  # between epochs: written at an epoch's end, or outside training
        return None
    batches = fit_loop.epoch_loop.batch_progress.current
    # Written from on_train_batch_end (processed, not yet completed), the batch counts as done;
    # written within a batch, the batch is run again.
    done = batches.processed if batches.processed > batches.completed else batches.completed
    return done if done < trainer.num_training_batches else None  # after the last batch: a new epoch
