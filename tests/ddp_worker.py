"""Run by tests/test_ddp.py, one process per "node" under torchrun: fits a tiny model of every
registered method (each family, each datamodule) and of a two-phase method across its unfreeze
for 2 iterations with the `ddp_gan` strategy, one after
another in this process (the imports are paid once), and writes <output>/rank<r>.json: per
method, a hash of every parameter of every network before and after the fit, and random numbers
the rank drew in training. Also holds `StateProbe`, a callback the console-script test adds to its
resumed run.

    torchrun --nnodes 2 --nproc-per-node 1 --node-rank R ... tests/ddp_worker.py OUTPUT
"""

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from i2i_zoo.methods import METHODS
from i2i_zoo.methods.base import _get_rng_state

sys.path.insert(0, str(Path(__file__).resolve().parent / "methods"))
from phased_method import PHASED  # noqa: E402

# What the worker fits: every registered method on its demo data (each family, each datamodule),
# tiny, every network stepped each iteration; and the two-phase test method with G unfrozen at
# the second iteration, accumulating two micro-batches (the first without the all-reduce).
# DeepI2I's warm-up (G frozen) and BiL-GAN's phase 1 (G2 and D frozen) end after the first step
# here, so the two steps train every network.
OPTIONS = {"DeepI2I": {"warmup_iterations": 1}, "BiLGAN": {"phase2_start": 1}}
ENTRIES = {
    **{name: (entry, OPTIONS.get(name, {})) for name, entry in METHODS.items()},
    PHASED.name: (PHASED, {"switch": 1, "accumulation": 2}),
}


def digest(model: torch.nn.Module) -> dict[str, dict[str, str]]:
    """network -> parameter name -> hash of its exact bytes."""
    networks: dict[str, dict[str, str]] = {}
    for name, parameter in model.named_parameters():
        network, _, rest = name.partition(".")
        data = parameter.detach().cpu().contiguous().numpy().tobytes()
        networks.setdefault(network, {})[rest] = hashlib.sha256(data).hexdigest()
    return networks


class RandomDraws(Callback):
    """Records a torch, a numpy and a Python random number drawn as training starts."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.draws = [torch.rand(()).item(), float(np.random.rand()), random.random()]


class StateProbe(Callback):
    """Writes <output_dir>/state_rank<r>.pt: this rank's RNG states and, for CycleGAN, its image
    pools as its first training batch starts (after the method restored the checkpoint's states
    at the epoch start)."""

    def __init__(self, output_dir: str):
        self.output_dir = Path(output_dir)
        self.written = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.written:
            pools = {name: getattr(pl_module, f"pool_{name}").state_dict() for name in "AB" if hasattr(pl_module, f"pool_{name}")}
            torch.save({"rng": _get_rng_state(), "pools": pools}, self.output_dir / f"state_rank{trainer.global_rank}.pt")
            self.written = True


def main(output: Path) -> None:
    report: dict[str, dict] = {}
    for method, (entry, options) in ENTRIES.items():
        seed_everything(0, verbose=False)  # the same initial weights on every rank
        model, draws = entry.build(**options), RandomDraws()
        initial = digest(model)
        trainer = Trainer(
            accelerator="cpu", devices=1, num_nodes=2, strategy="ddp_gan", max_epochs=1,
            limit_train_batches=2, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[draws], default_root_dir=output,
        )
        trainer.fit(model, datamodule=entry.build_datamodule())
        report[method] = {"initial": initial, "trained": digest(model), "iteration": model.iteration, "draws": draws.draws}
    (output / f"rank{os.environ['RANK']}.json").write_text(json.dumps(report))  # RANK: set by torchrun


if __name__ == "__main__":
    main(Path(sys.argv[1]))
