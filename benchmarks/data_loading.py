"""Epoch starts of the datamodules' training loader: persistent workers (the default) against
fresh workers every epoch (a non-persistent DataLoader over the same dataset and sampler). Times
each epoch from `iter(loader)` to the first batch and to the end, and checks that both loaders
yield the same batches: items take their randomness from the sampler's keys, so worker
persistence must not change the data stream (the benchmark's correctness check; speed is only
reported).

    python benchmarks/data_loading.py --size 256 --num-workers 4 --epochs 5 --max-batches 50

Exits with status 1 when the two loaders' batches differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from i2i_zoo.data import PairedDataModule


@dataclass
class EpochTimes:
    first_batch_s: list[float]
    epoch_s: list[float]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="demo:shapes", help="a dataset in the paired layout, or demo:<name>")
    parser.add_argument("--size", type=int, default=256, help="training crop size (loaded at 286/256 of it)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--num-workers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-batches", type=int, help="batches per epoch (default: the whole training set)")
    return parser.parse_args(argv)


def training_loader(args: argparse.Namespace) -> DataLoader:
    torch.manual_seed(0)  # the data stream's seed: both loaders draw the same keys
    datamodule = PairedDataModule(
        root=args.root, load_size=args.size * 286 // 256, crop_size=args.size,
        batch_size=args.batch_size, num_workers=args.num_workers,
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule.train_dataloader()


def without_persistence(loader: DataLoader) -> DataLoader:
    return DataLoader(
        loader.dataset, batch_size=loader.batch_size, sampler=loader.sampler, num_workers=loader.num_workers,
        pin_memory=loader.pin_memory, generator=loader.generator, persistent_workers=False,
    )


def run_epochs(loader: DataLoader, epochs: int, max_batches: int | None) -> tuple[EpochTimes, list[torch.Tensor]]:
    times, batches = EpochTimes([], []), []
    for _ in range(epochs):
        start = time.perf_counter()
        for index, batch in enumerate(loader):
            if index == 0:
                times.first_batch_s.append(time.perf_counter() - start)
            batches.append(batch["A"])
            if max_batches is not None and index + 1 == max_batches:
                break  # as limit_train_batches cuts an epoch: the next iter() resets the workers
        times.epoch_s.append(time.perf_counter() - start)
    return times, batches


def main(argv: list[str] | None = None) -> bool:
    args = parse_args(argv)
    results = {}
    for name, make in (("persistent", training_loader), ("fresh", lambda a: without_persistence(training_loader(a)))):
        results[name] = run_epochs(make(args), args.epochs, args.max_batches)
    print("| workers | first epoch: first batch s | later epochs: first batch s (median) | later epochs: epoch s (median) |")
    print("|---|---:|---:|---:|")
    for name, (times, _) in results.items():
        later_first = statistics.median(times.first_batch_s[1:]) if args.epochs > 1 else float("nan")
        later_epoch = statistics.median(times.epoch_s[1:]) if args.epochs > 1 else float("nan")
        print(f"| {name} | {times.first_batch_s[0]:.3f} | {later_first:.3f} | {later_epoch:.3f} |")
    persistent, fresh = (results[name][1] for name in ("persistent", "fresh"))
    same = len(persistent) == len(fresh) and all(torch.equal(a, b) for a, b in zip(persistent, fresh))
    print("the two loaders yield the same batches" if same else "ERROR: the two loaders yield different batches")
    return same


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
