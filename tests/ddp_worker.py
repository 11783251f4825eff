"""Run by tests/test_ddp.py, one process per "node" under torchrun: fits a tiny model of every
method (each family, each datamodule) for 2 iterations with the `ddp_gan` strategy, one after
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

import i2i_zoo.methods as methods
from i2i_zoo.data import (
    MultiDomainDataModule,
    PairedDataModule,
    ReferencePairDataModule,
    SuperResolutionDataModule,
    UnpairedDataModule,
)
from i2i_zoo.methods.base import _get_rng_state

LOADER = dict(batch_size=2, num_workers=0)
PAIRED = dict(root="demo:shapes", load_size=32, crop_size=32, val_split=None, **LOADER)
TINTS = ["red", "green", "blue", "yellow"]
# method -> (model, datamodule) factories: 32 px images, 8 filters, every network stepped each
# iteration (StarGAN's n_critic and GANimation's G interval at 1).
METHODS = {
    "Pix2Pix": (
        lambda: methods.Pix2Pix(ngf=8, ndf=8, num_downs=5, image_size=32, lr_policy="constant"),
        lambda: PairedDataModule(**PAIRED),
    ),
    "CycleGAN": (
        lambda: methods.CycleGAN(generator="resnet_6blocks", ngf=8, ndf=8, n_layers_D=2, image_size=32, pool_size=4, lr_policy="constant"),
        lambda: UnpairedDataModule(root="demo:recolor", load_size=32, crop_size=32, val_split=None, **LOADER),
    ),
    "StarGAN": (
        lambda: methods.StarGAN(
            domains=TINTS, label_type="exclusive", image_size=32, g_conv_dim=8, d_conv_dim=8,
            g_repeat_num=1, d_repeat_num=3, n_critic=1,
        ),
        lambda: MultiDomainDataModule(root="demo:tints", domains=TINTS, image_size=32, val_split=None, **LOADER),
    ),
    "GANimation": (
        lambda: methods.GANimation(
            domains=["brightness"], image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1,
            d_repeat_num=3, train_G_every_n_iterations=1, lr_policy="constant",
        ),
        lambda: MultiDomainDataModule(
            root="demo:levels", layout="csv", domains=["brightness"], image_size=32, val_split=None, **LOADER
        ),
    ),
    "SPL": (
        lambda: methods.SPL(ngf=8, n_blocks=1, lr_policy="constant"),
        lambda: PairedDataModule(**PAIRED),
    ),
    "SPLSuperResolution": (
        lambda: methods.SPLSuperResolution(scale=4, num_features=8, num_blocks=1),
        lambda: SuperResolutionDataModule(root="demo:photos", scale=4, patch_size=32, val_hr=None, val_lr=None, **LOADER),
    ),
    "SPLReferenceTransfer": (
        lambda: methods.SPLReferenceTransfer(ngf=8, n_blocks=1),
        lambda: ReferencePairDataModule(root="demo:palettes", load_size=32, crop_size=32, val_split=None, **LOADER),
    ),
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
    for method, (make_model, make_data) in METHODS.items():
        seed_everything(0, verbose=False)  # the same initial weights on every rank
        model, draws = make_model(), RandomDraws()
        initial = digest(model)
        trainer = Trainer(
            accelerator="cpu", devices=1, num_nodes=2, strategy="ddp_gan", max_epochs=1,
            limit_train_batches=2, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[draws], default_root_dir=output,
        )
        trainer.fit(model, datamodule=make_data())
        report[method] = {"initial": initial, "trained": digest(model), "iteration": model.iteration, "draws": draws.draws}
    (output / f"rank{os.environ['RANK']}.json").write_text(json.dumps(report))  # RANK: set by torchrun


if __name__ == "__main__":
    main(Path(sys.argv[1]))
