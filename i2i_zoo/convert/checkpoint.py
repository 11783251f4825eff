"""Lightning checkpoints of models that were not trained here (imported weights)."""

from __future__ import annotations

import os
from pathlib import Path

import lightning

from i2i_zoo.callbacks import AtomicCheckpointIO, read_checkpoint
from i2i_zoo.methods import I2IMethod, stored_method_class


def save_checkpoint(model: I2IMethod, path: str | os.PathLike) -> Path:
    """Write `model` as a weights-only Lightning checkpoint (no optimizer state: it serves
    `i2i-zoo predict/validate/test --ckpt_path` and `<Method>.load_from_checkpoint`, not a resume),
    atomically."""
    cls = type(model)
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": model.state_dict(),
        # As LightningCLI stores them: it rebuilds the model from these, with no --model argument.
        "hyper_parameters": {
            "_class_path": f"{cls.__module__}.{cls.__name__}",
            **model.hparams,
            "_instantiator": "lightning.pytorch.cli.instantiate_module",
        },
    }
    path = Path(path).expanduser()
    AtomicCheckpointIO().save_checkpoint(checkpoint, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> I2IMethod:
    """The registered method in a Lightning checkpoint (trained here or converted), on the CPU.
    The class must be a registered one: a class path in the file is never imported from elsewhere."""
    path = Path(path).expanduser()
    hparams = read_checkpoint(path).get("hyper_parameters", {})
    cls = stored_method_class(str(hparams.get("_class_path", "")), str(path))
    return cls.load_from_checkpoint(path, map_location="cpu", weights_only=True)
