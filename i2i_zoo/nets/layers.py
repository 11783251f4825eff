"""Normalization factories and weight initialization shared by the networks."""
from __future__ import annotations

import functools
from typing import Callable, Literal

import torch.nn as nn

NORMS = ("batch", "instance", "layer", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
# Choice types for the options that take these (the command line rejects other values at parse time).
Norm = Literal[NORMS]
InitType = Literal[INIT_TYPES]

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"Unknown norm {norm!r}; choose one of {', '.join(NORMS)}.")


def get_norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """Return a factory `channels -> norm module` for `batch`, `instance`, `layer` or `none`.

    `layer` normalises each image over all its channels and pixels at once (GroupNorm with one
    group, no affine): unlike instance norm it keeps each channel's mean, which a network that
    average-pools its features (AsymGAN's encoder of a z vector) needs."""
    _check_norm(norm)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "layer":
        return lambda channels: nn.GroupNorm(1, channels, affine=False)
    return lambda channels: nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by `norm` needs a bias (batch norm's shift makes it redundant)."""
    _check_norm(norm)
    return norm != "batch"


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialize conv/linear weights (biases to 0) and batch-norm scales ~ N(1, gain), in place.

    `kaiming` ignores `init_gain` (fan-in, ReLU gain), as in pix2pix/CycleGAN.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"Unknown init_type {init_type!r}; choose one of {', '.join(INIT_TYPES)}.")
    for m in net.modules():
        if isinstance(m, (*_CONV_TYPES, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=init_gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)
    return net
