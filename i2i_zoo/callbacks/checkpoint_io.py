"""Checkpoints written atomically (a crash while saving never damages the previous file), and
read back, local or remote, without unpickling anything but tensors and plain values, with errors
that name the file."""

from __future__ import annotations

import os
import pickle
import zipfile
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

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # Lightning unpickles URLs with weights_only=False (anything in the file runs): never here.
        if weights_only is False:
            raise ValueError(
                "i2i-zoo restores checkpoints with weights_only=True only (they hold tensors and plain values)"
            )
        return load_checkpoint_file(path, "--ckpt_path", map_location)


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
        message = str(error)
        if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in message:
            # torch's message advises weights_only=False, which would run the file's code: not repeated.
            found = message[message.index("Unsupported global") :].split(" was not", 1)[0]
            raise ValueError(
                f"refused checkpoint {location} ({option}): it holds objects other than tensors and plain values, "
                f"which could run code when loaded ({found}). Checkpoints written by i2i-zoo never do: this "
                "file was written by other code, or altered"
            ) from None
        # The line that says what failed, not torch's advice about weights_only.
        lines = [line.strip() for line in message.splitlines() if line.strip() and "weights_only" not in line]
        reason = lines[0] if lines and not isinstance(error, KeyError) else f"{type(error).__name__} {message}".strip()
        raise ValueError(f"cannot read checkpoint {location} ({option}): not a complete checkpoint file ({reason})") from None
