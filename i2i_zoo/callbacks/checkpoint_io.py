"""Checkpoints written atomically (a crash while saving never damages the previous file), and
read back with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves local checkpoints to a temporary file in the target's folder, then renames it into
    place (a rename within one file system is atomic). Remote paths keep Lightning's behaviour."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with open(partial, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)


def read_checkpoint(path: str | os.PathLike, option: str = "--ckpt_path") -> dict[str, Any]:
    """A Lightning checkpoint's contents, memory-mapped (tensors are read only when used), for
    the code that reads its hyperparameters; errors name the file and the `option` giving it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} ({option}) does not exist; expected a Lightning checkpoint (.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch.load fails in many ways on a file that is not a checkpoint
        raise ValueError(f"cannot read checkpoint {path} ({option}): {error}") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} ({option}) is not a Lightning checkpoint: it has no state_dict")
    return checkpoint
