"""Import of BigGAN-PyTorch's networks (ajbrock/BigGAN-PyTorch).

Its training saves raw state dicts: `G.pth`, `G_ema.pth` (the moving average, the one to sample
from) and `D.pth`, beside `G_optim.pth`, `D_optim.pth` (optimizer states) and `state_dict.pth`
(counters and the run's configuration, pickled objects): only the first three hold networks.
`i2i_zoo.nets.biggan` uses its module names, so the files load by key; the configuration
(resolution, width, attention, latent and embedding sizes, hierarchical z, classes) is read off the
tensor shapes, since nothing else in the files records it.

Files converted from the TFHub models by its `TFHub/converter.py` lack the `sv0` buffers (estimated
singular values, kept for logging only): they are filled with ones, the value a fresh network holds.
Those models were trained with `BN_eps` = `SN_eps` = 1e-4 (the converter's configuration), the
ones trained by BigGAN-PyTorch's launch scripts with `--BN_eps 1e-5 --SN_eps 1e-6`: the epsilons
default to the first for files without `sv0`, to the second otherwise.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from i2i_zoo.nets.biggan import _D_BLOCKS, _G_CHANNELS, BigGANDiscriminator, BigGANGenerator
from i2i_zoo.weights import StateDict, read_state_dict

_G_RESOLUTION = {len(widths) - 1: resolution for resolution, widths in _G_CHANNELS.items()}
_D_RESOLUTION = {len(blocks): resolution for resolution, blocks in _D_BLOCKS.items()}
TFHUB_EPS = {"bn_eps": 1e-4, "sn_eps": 1e-4}
TRAINED_EPS = {"bn_eps": 1e-5, "sn_eps": 1e-6}


def _keys(state: StateDict) -> str:
    return f"{', '.join(list(state)[:4])}{', ...' if len(state) > 4 else ''}"


def _layout(state: StateDict, network: str, required: tuple[str, ...], resolutions: dict[int, int]) -> tuple[list[int], int]:
    """The residual blocks and the resolution of a BigGAN-PyTorch `network` ("generator" or
    "discriminator") state dict holding the `required` keys; errors say what the file is instead
    (the other network, another block layout)."""
    if any(key not in state for key in required):
        other, file, marker = ("discriminator", "D", "embed.weight") if network == "generator" else ("generator", "G", "shared.weight")
        hint = f" (it looks like a BigGAN {other}: pass it as the {file} file)" if marker in state else ""
        raise ValueError(f"not a BigGAN-PyTorch {network}{hint}: expected its keys ({', '.join(required)}, ...); "
                         f"found {_keys(state)}")  # fmt: skip
    blocks = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r"blocks\.(\d+)\.0\.conv1\.weight", key)))
    if blocks != list(range(len(blocks))):
        raise ValueError(f"residual blocks at blocks.{blocks}.0: expected consecutive blocks from blocks.0.0, BigGAN-PyTorch's {network}'s layout")
    if len(blocks) not in resolutions:
        sides = resolutions.values()
        raise ValueError(f"{len(blocks)} {network} blocks: BigGAN-PyTorch's have {sorted(resolutions)} ({min(sides)} to {max(sides)} px)")
    return blocks, resolutions[len(blocks)]


def _num_svs(state: StateDict) -> int:
    return sum(1 for key in state if re.fullmatch(r"linear\.u\d+", key))


def infer_biggan_generator_config(state: StateDict) -> dict[str, Any]:
    """The `BigGANGenerator` arguments (`resolution`, `ch`, `dim_z`, `shared_dim`, `hier`,
    `n_classes`, `attention`, `shared`, `num_svs`) of a BigGAN-PyTorch Generator's state dict."""
    required = ("linear.weight", "linear.u0", "blocks.0.0.conv1.weight", "blocks.0.0.bn1.gain.weight", "output_layer.2.weight")
    blocks, resolution = _layout(state, "generator", required, _G_RESOLUTION)
    linear = state["linear.weight"]
    first = _G_CHANNELS[resolution][0] * 16  # 4x4 maps of the first block's width
    if linear.dim() != 2 or linear.shape[0] % first:
        raise ValueError(f"linear.weight has shape {tuple(linear.shape)}: expected ({first} * ch, z), a {resolution} px "
                         "BigGAN-PyTorch generator's")  # fmt: skip
    ch, z_in = linear.shape[0] // first, linear.shape[1]
    gain = state["blocks.0.0.bn1.gain.weight"]
    shared = "shared.weight" in state
    if shared:
        n_classes, shared_dim = state["shared.weight"].shape
        chunk = gain.shape[1] - shared_dim
        if chunk not in (0, z_in):
            raise ValueError(f"the conditional batch norms take {gain.shape[1]} inputs: expected the shared embedding's "
                             f"{shared_dim}, plus a z chunk of {z_in} with hierarchical z")  # fmt: skip
        hier = chunk > 0
        dim_z = z_in * (len(blocks) + 1) if hier else z_in
    else:  # G_shared=False: per-layer class embeddings (n_classes, channels), no hierarchical z
        n_classes, shared_dim, hier, dim_z = gain.shape[0], 0, False, z_in
    attention = tuple(2 ** (k + 3) for k in blocks if f"blocks.{k}.1.gamma" in state)
    return {"resolution": resolution, "ch": ch, "dim_z": dim_z, "shared_dim": shared_dim, "hier": hier,
            "n_classes": n_classes, "attention": attention, "shared": shared, "num_svs": _num_svs(state)}  # fmt: skip


def infer_biggan_discriminator_config(state: StateDict) -> dict[str, Any]:
    """The `BigGANDiscriminator` arguments (`resolution`, `ch`, `n_classes`, `attention`, `wide`,
    `num_svs`) of a BigGAN-PyTorch Discriminator's state dict."""
    required = ("blocks.0.0.conv1.weight", "blocks.0.0.conv2.weight", "linear.weight", "embed.weight", "embed.u0")
    blocks, resolution = _layout(state, "discriminator", required, _D_RESOLUTION)
    table = _D_BLOCKS[resolution]
    conv1, conv2 = state["blocks.0.0.conv1.weight"], state["blocks.0.0.conv2.weight"]
    if conv2.dim() != 4 or conv2.shape[0] % table[0][0]:
        raise ValueError(f"blocks.0.0.conv2.weight has shape {tuple(conv2.shape)}: expected a 3x3 conv to "
                         f"{table[0][0]} * ch channels, a {resolution} px BigGAN-PyTorch discriminator's")  # fmt: skip
    attention = tuple(sorted({table[k][2] for k in blocks if f"blocks.{k}.1.gamma" in state}))
    return {"resolution": resolution, "ch": conv2.shape[0] // table[0][0], "n_classes": state["embed.weight"].shape[0],
            "attention": attention, "wide": conv1.shape[0] == conv2.shape[0], "num_svs": _num_svs(state)}  # fmt: skip


def _fill_singular_values(state: StateDict) -> tuple[StateDict, bool]:
    """`state` with `sv<i>` = 1 added beside every `u<i>` that lacks one, and whether any was missing."""
    missing = {key.rsplit(".", 1)[0] + ".sv" + key.rsplit(".u", 1)[1] for key in state if re.search(r"\.u\d+$", key)} - set(state)
    return {**state, **{key: torch.ones(1) for key in sorted(missing)}}, bool(missing)


def _infer(infer, state: StateDict, path: str | os.PathLike) -> dict[str, Any]:
    try:
        return infer(state)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _load_into(net: torch.nn.Module, state: StateDict, path: str | os.PathLike, config: dict[str, Any]) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the BigGAN-PyTorch network its shapes describe ({config}): {error}") from None


def load_biggan_pytorch(
    G_path: str | os.PathLike,
    D_path: str | os.PathLike | None = None,
    bn_eps: float | None = None,
    sn_eps: float | None = None,
) -> tuple[BigGANGenerator, BigGANDiscriminator | None]:
    """`(G, D)` with BigGAN-PyTorch's `G.pth` or `G_ema.pth` (and `D.pth`; D is None without it)
    loaded, in eval mode (stored batch-norm statistics, spectral norms left as stored).

    The configuration is read off the tensor shapes (`infer_biggan_generator_config`,
    `infer_biggan_discriminator_config`); `bn_eps` and `sn_eps`, which no file records, default as
    the module docstring says. Every failure is a ValueError naming the file and what it should have
    held (FileNotFoundError for a missing file): an optimizer file (`G_optim.pth`),
    `state_dict.pth`, a truncated file, another network's state dict, or G and D of different
    models.
    """
    g_state = read_state_dict(G_path, "BigGAN-PyTorch's generator weights (G.pth or G_ema.pth; not G_optim.pth or state_dict.pth)")
    g_config = _infer(infer_biggan_generator_config, g_state, G_path)
    g_state, converted = _fill_singular_values(g_state)
    eps = {**(TFHUB_EPS if converted else TRAINED_EPS), **({"bn_eps": bn_eps} if bn_eps is not None else {}),
           **({"sn_eps": sn_eps} if sn_eps is not None else {})}  # fmt: skip
    G = BigGANGenerator(**g_config, **eps, skip_init=True)
    _load_into(G, g_state, G_path, g_config)
    D = None
    if D_path is not None:
        d_state = read_state_dict(D_path, "BigGAN-PyTorch's discriminator weights (D.pth; not D_optim.pth or state_dict.pth)")
        d_config = _infer(infer_biggan_discriminator_config, d_state, D_path)
        for key in ("resolution", "n_classes"):
            if d_config[key] != g_config[key]:
                raise ValueError(f"{D_path} has {key}={d_config[key]}, but {G_path} has {g_config[key]}: "
                                 "the files come from different models")  # fmt: skip
        d_state, _ = _fill_singular_values(d_state)
        D = BigGANDiscriminator(**d_config, sn_eps=eps["sn_eps"], skip_init=True)
        _load_into(D, d_state, D_path, d_config)
        D.eval()
    return G.eval(), D
