"""Checkpoints written atomically (a crash while saving never damages the previous file), and
read back, local or remote, without unpickling anything but tensors and plain values, with errors
that name the file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from i2i_zoo.weights import load_failure

# The temporary file a checkpoint is written to beside its target, from the target's name.
PARTIAL_NAME = ".{}.partial"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves local checkpoints to a temporary file in the target's folder, then renames it into
    place (a rename within one file system is atomic). Remote paths keep Lightning's behaviour.

    The temporary file is `.<name>.partial` (PARTIAL_NAME); those a killed save left behind are
    removed from a folder when this plugin (one per run) first saves into it. A failed write raises an OSError
    naming the checkpoint and the cause; Ctrl-C stays a KeyboardInterrupt. Either way the
    previous checkpoint stays as it was and the partial file is removed. Every checkpoint the
    Trainer restores, a URL included, is read with `weights_only=True` (load_checkpoint_file)."""

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

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # Lightning unpickles URLs with weights_only=False (anything in the file runs): never here.
        if weights_only is False:
            raise ValueError(
                "i2i-zoo restores checkpoints with weights_only=True only (they hold tensors and plain values)"
            )
        return load_checkpoint_file(path, "--ckpt_path", map_location)

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
    """A Lightning checkpoint's contents (a local file memory-mapped: tensors are read only when
    used), for the code that reads its hyperparameters; errors name the file and the `option`
    giving it. A URL is downloaded as by :func:`load_checkpoint_file`."""
    checkpoint = load_checkpoint_file(path, option, mmap=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} ({option}) is not a Lightning checkpoint: it has no state_dict")
    return checkpoint


def load_checkpoint_file(
    path: str | os.PathLike, option: str = "--ckpt_path", map_location: Any = "cpu", mmap: bool = False
) -> Any:
    """The contents of a checkpoint file, a local path or a URL (http(s) downloads go to torch's
    hub cache; other fsspec URLs are streamed), unpickled with ``weights_only=True`` whatever the
    source: i2i-zoo's checkpoints hold only tensors and plain values, and unpickling anything
    else could run code from the file. Errors name the file and the `option` giving it."""
    location = str(path)
    remote = not isinstance(get_filesystem(location), LocalFileSystem)
    if not remote:
        location = str(Path(location).expanduser())
        if not Path(location).is_file():
            raise FileNotFoundError(f"checkpoint {location} ({option}) does not exist; expected a Lightning checkpoint (.ckpt)")
        if Path(location).stat().st_size == 0:
            raise ValueError(f"cannot read checkpoint {location} ({option}): the file is empty")
    try:
        if location.startswith(("http://", "https://")):
            return torch.hub.load_state_dict_from_url(location, map_location=map_location, weights_only=True)
        if remote:
            with get_filesystem(location).open(location, "rb") as handle:
                return torch.load(handle, map_location=map_location, weights_only=True)
        # Only zip checkpoints map; any other file is read as is, for torch to say what is wrong.
        mmap = mmap and zipfile.is_zipfile(location)
        return torch.load(location, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:  # torch.load fails in many ways on a file that is not a checkpoint
        refused, reason = load_failure(error)
        if refused:
            raise ValueError(
                f"refused checkpoint {location} ({option}): it holds objects other than tensors and plain values, "
                f"which could run code when loaded ({reason}). Checkpoints written by i2i-zoo never do: this "
                "file was written by other code, or altered"
            ) from None
        raise ValueError(f"cannot read checkpoint {location} ({option}): not a complete checkpoint file ({reason})") from None
