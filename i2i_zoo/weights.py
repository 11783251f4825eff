"""Pretrained weights files: where they are found and how they are read.

Every loader of weights a user supplies (the FID Inception, the LPIPS backbone, the importers of
the original implementations' networks) finds its file the same way and reads it the same way,
so a missing or wrong file fails with the same kind of message everywhere, naming what to put
where, and never leaves a network with random weights. Lightning checkpoints are not weights
files: `i2i_zoo.callbacks.read_checkpoint` reads them.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

StateDict = dict[str, Tensor]


def hub_checkpoints() -> Path:
    """Torch hub's download cache (`$TORCH_HOME/hub/checkpoints`), where torchvision and
    torchmetrics keep the weights they download, and where users put them by hand offline."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_weights(
    path: str | os.PathLike | None,
    *,
    option: str,
    env: str,
    candidates: Sequence[Path],
    what: str,
    urls: Mapping[Path, str] | None = None,
    hint: str = "",
    download: Callable[[], Path] | None = None,
) -> Path:
    """The weights file for `what`: `path` (the value of the user's `option`), else `$env`, else
    the first of `candidates` that exists, else what `download` fetches.

    A path the user gave (by the option or the variable) must exist: silently searching further
    would load other weights than the ones asked for. When nothing is found (or `download` fails
    with an OSError), one FileNotFoundError names the files expected and where, the URL of each
    candidate in `urls`, the `hint` (another way to get the file, in words), the variable and the
    option, since the machine may have no network to fetch them itself.
    """
    for given, source in ((path, option), (os.environ.get(env), env)):
        if given:
            given = Path(given).expanduser()
            if not given.is_file():
                raise FileNotFoundError(f"{source}={given}: no such file; expected {what}")
            return given
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    failure = ""
    if download is not None:
        try:
            return download()
        except OSError as error:
            failure = f", and downloading it failed ({error})"
    urls = urls or {}
    ways = []
    if candidates:
        places = (f"{candidate} (download it from {urls[candidate]})" if candidate in urls else str(candidate) for candidate in candidates)
        ways.append(f"put {' or '.join(places)} in place")
    if hint:
        ways.append(hint)
    ways.append(f"point the environment variable {env} or the {option} option at the file")
    raise FileNotFoundError(f"no {what} found{failure}: {'; or '.join(ways)}")


def load_failure(error: Exception) -> tuple[bool, str]:
    """What a failed ``torch.load(..., weights_only=True)`` says, in one line: whether the file was
    refused for holding objects that could run code (the reason then names the global), and the
    reason. torch's advice to load with ``weights_only=False``, which would run them, is left out."""
    message = str(error)
    if isinstance(error, pickle.UnpicklingError) and "Unsupported global" in message:
        return True, message[message.index("Unsupported global") :].split(" was not", 1)[0]
    lines = [line.strip() for line in message.splitlines() if line.strip() and "weights_only" not in line]
    return False, lines[0] if lines and not isinstance(error, KeyError) else f"{type(error).__name__} {message}".strip()


def read_state_dict(path: str | os.PathLike, what: str) -> StateDict:
    """The state dict of tensors in the weights file `path`, on the CPU, with a `module.` prefix
    (a DataParallel/DDP save) removed.

    `weights_only=True`: a weights file may come from anywhere, and unpickling anything else could
    run code. Every error names the file and `what` it should have held: FileNotFoundError when it
    is absent, ValueError when it is unreadable or holds something other than a state dict (with a
    hint when it is a Lightning checkpoint).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected {what}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways on a file that is not a weights file
        _, reason = load_failure(error)
        raise ValueError(f"{path} is not a readable PyTorch file (expected {what}): {reason}") from None
    if not isinstance(state, dict) or not all(isinstance(value, Tensor) for value in state.values()):
        hint = " (a Lightning checkpoint? pass it to i2i-zoo with --ckpt_path)" if isinstance(state, dict) and "state_dict" in state else ""
        raise ValueError(f"{path} holds a {type(state).__name__}, not a network's state dict of tensors{hint}; expected {what}")
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return dict(state)


def load_into(network: torch.nn.Module, state: StateDict, described: str) -> torch.nn.Module:
    """`network` with `state` loaded strictly; on a mismatch, a ValueError that starts with
    `described` (which file, for what) and gives load_state_dict's report on one line."""
    try:
        network.load_state_dict(state)
    except RuntimeError as error:  # load_state_dict's report spans lines
        reason = " ".join(line.strip() for line in str(error).splitlines())
        raise ValueError(f"{described}: {reason[:500]}") from None
    return network
