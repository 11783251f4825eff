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

# The temporary file a checkpoint is written to beside its target, from the target's name.
PARTIAL_NAME = ".{}.partial"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves local checkpoints to a temporary file in the target's folder, then renames it into
    place (a rename within one file system is atomic). Remote paths keep Lightning's behaviour.

    The temporary file is `.<name>.partial` (PARTIAL_NAME); those a killed save left behind are
    removed from a folder when this plugin (one per run) first saves into it. A failed write raises an OSError
    naming the checkpoint and the cause; Ctrl-C stays a KeyboardInterrupt. Either way the
    previous checkpoint stays as it was and the partial file is removed."""

    def __init__(self) -> None:
        super().__init__()
        self._swept: set[Path] = set()  # folders already cleared of leftover partial files

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(target.parent)
        partial = target.with_name(PARTIAL_NAME.format(target.name))
        try:
            with open(partial, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except BaseException as error:
            # torch.save's zip writer answers a failed write with its own "unexpected pos"
            # RuntimeError, raised while the real cause (full disk, Ctrl-C) is handled.
            cause = error
            while isinstance(cause, RuntimeError) and cause.__context__ is not None:
                cause = cause.__context__
            if isinstance(cause, KeyboardInterrupt):
                raise cause from None
            if isinstance(cause, OSError):
                reason = os.strerror(cause.errno).lower() if cause.errno else str(cause)
                previous = "the previous checkpoint at that path is untouched" if target.exists() else "nothing was written at that path"
                message = f"cannot write checkpoint {target}: {reason}; {previous}"
                raise (OSError(cause.errno, message) if cause.errno else OSError(message)) from cause
            raise
        finally:
            partial.unlink(missing_ok=True)

    def _sweep(self, folder: Path) -> None:
        """Remove the partial files of saves killed in an earlier run (SIGKILL skips the cleanup),
        once per folder: later ones are this run's. Lightning saves on global rank 0 only."""
        folder = folder.resolve()
        if folder in self._swept:
            return
        self._swept.add(folder)
        for path in folder.glob(PARTIAL_NAME.format("*")):
            if path.is_file():
                path.unlink(missing_ok=True)


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
