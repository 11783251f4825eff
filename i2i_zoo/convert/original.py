"""Networks of the original pix2pix/CycleGAN code (junyanz/pytorch-CycleGAN-and-pix2pix) in and out.

The original saves each network as a plain state dict, `<epoch>_net_<name>.pth`. `i2i_zoo.nets`
mirrors its module structure, so its keys are ours: importing reads the architecture off the
keys and shapes, builds our network and loads the file strictly.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from i2i_zoo import weights
from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.methods import CycleGAN, I2IMethod, Pix2Pix
from i2i_zoo.nets import PatchGANDiscriminator, ResnetGenerator, UnetGenerator
from i2i_zoo.weights import StateDict

# The original's file names -> our network names. Its netD_A is trained against netG_A (A -> B),
# so it judges domain B: our D_B (and its netD_B is our D_A).
PIX2PIX_NAMES = {"G": "G", "D": "D"}
CYCLEGAN_NAMES = {"G_A": "G", "G_B": "F", "D_A": "D_B", "D_B": "D_A"}

_RUNNING_STATS = (".running_mean", ".running_var", ".num_batches_tracked")
_ORIGINAL_GENERATORS = {("resnet", 9): "resnet_9blocks", ("resnet", 6): "resnet_6blocks",
                        ("unet", 8): "unet_256", ("unet", 7): "unet_128"}


# ------------------------------------------------------------------------------ reading files
def read_state_dict(path: str | os.PathLike) -> StateDict:
    """A network file of the original code as a state dict (see `i2i_zoo.weights.read_state_dict`)."""
    return weights.read_state_dict(path, "a network file of the original code, e.g. latest_net_G.pth")


def _norm(state: StateDict, norm: str, conv: str) -> str:
    """The norm type of the original's `--norm`, read off the norm layer `norm` that follows `conv`."""
    if f"{norm}.weight" in state and f"{norm}.running_mean" in state:
        return "batch"
    if f"{norm}.running_mean" in state:
        return "instance"  # before PyTorch 0.4, InstanceNorm2d kept running statistics
    if f"{norm}.weight" in state:
        raise ValueError(f"{norm} is an affine norm layer without running statistics, which the original never builds")
    if f"{conv}.bias" in state:
        return "instance"  # affine=False, no statistics: no keys at all
    raise ValueError(
        "its convolutions have no bias and no norm layer follows them: the original's --norm none, whose "
        "convolutions have no bias where i2i_zoo's have one; such files cannot be imported"
    )


def _top_level_convs(state: StateDict, prefix: str = "model") -> list[int]:
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.weight")
    return sorted(int(m.group(1)) for key in state if (m := pattern.fullmatch(key)) and state[key].dim() == 4)


# -------------------------------------------------------------------------- inference
def infer_generator_config(state: StateDict) -> dict[str, Any]:
    """The architecture of an original generator's state dict.

    Returns `architecture` (`resnet` or `unet`), `in_channels`, `out_channels`, `ngf`, `norm`,
    and `n_blocks` and `use_dropout` (ResNet: dropout shifts the residual blocks' keys) or
    `num_downs` (U-Net: dropout adds no keys, so the file does not say).
    """
    if "model.1.weight" in state and state["model.1.weight"].dim() == 4 and "model.0.weight" not in state:
        return _infer_resnet(state)
    if "model.model.0.weight" in state:
        return _infer_unet(state)
    hint = " (it looks like a discriminator)" if "model.0.weight" in state else ""
    raise ValueError(
        f"not a generator of the original code{hint}: expected the keys of a ResnetGenerator (model.1.weight, "
        f"model.<i>.conv_block...) or a UnetGenerator (model.model.0.weight, model.model.1.model...); "
        f"found {', '.join(list(state)[:4])}{', ...' if len(state) > 4 else ''}"
    )


def _infer_resnet(state: StateDict) -> dict[str, Any]:
    stem = state["model.1.weight"]
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.conv_block\.", key))})
    # Stem (pad, conv, norm, relu) and two downsamplings (conv, norm, relu) come first.
    if blocks != list(range(10, 10 + len(blocks))):
        raise ValueError(f"residual blocks at model.{blocks}: expected consecutive blocks from model.10")
    use_dropout = False
    if blocks:
        convs = _top_level_convs(state, "model.10.conv_block")
        # pad, conv, norm, relu, [dropout], pad, conv, norm: dropout moves the second conv from 5 to 6.
        if convs not in ([1, 5], [1, 6]):
            raise ValueError(
                f"residual block convolutions at conv_block.{convs}: expected conv_block.1 and conv_block.5 "
                "(or .6 with dropout), the original's reflection-padded block"
            )
        use_dropout = convs == [1, 6]
    head = state[f"model.{_top_level_convs(state)[-1]}.weight"]
    return {
        "architecture": "resnet", "in_channels": stem.shape[1], "out_channels": head.shape[0], "ngf": stem.shape[0],
        "n_blocks": len(blocks), "norm": _norm(state, "model.2", "model.1"), "use_dropout": use_dropout,
    }


def _infer_unet(state: StateDict) -> dict[str, Any]:
    # Each block but the innermost holds the next one at index 3 (index 1 in the outermost).
    block, num_downs = "model.model.1", 2
    while f"{block}.model.3.model.1.weight" in state:
        block, num_downs = f"{block}.model.3", num_downs + 1
    if "model.model.3.weight" not in state or num_downs < 5:
        raise ValueError(f"a U-Net of {num_downs} levels: the original builds at least 5, ending in model.model.3 (the output conv)")
    down = state["model.model.0.weight"]
    return {
        "architecture": "unet", "in_channels": down.shape[1], "out_channels": state["model.model.3.weight"].shape[1],
        "ngf": down.shape[0], "num_downs": num_downs, "norm": _norm(state, "model.model.1.model.2", "model.model.1.model.1"),
    }


def infer_discriminator_config(state: StateDict) -> dict[str, Any]:
    """The architecture of an original PatchGAN (`--netD basic` or `n_layers`) state dict:
    `in_channels`, `ndf`, `n_layers`, `norm`."""
    convs = _top_level_convs(state)
    n_layers = len(convs) - 2
    # conv, lrelu, then (conv, norm, lrelu) per layer, then the output conv.
    if n_layers < 1 or convs != [0, *range(2, 3 * n_layers + 3, 3)]:
        raise ValueError(
            "not a PatchGAN discriminator of the original code (--netD basic or n_layers): expected convs at "
            f"model.0, model.2, model.5, ..., found {', '.join(f'model.{i}' for i in convs) or 'none'}"
        )
    first = state["model.0.weight"]
    return {"in_channels": first.shape[1], "ndf": first.shape[0], "n_layers": n_layers, "norm": _norm(state, "model.3", "model.2")}


def original_generator_name(config: dict[str, Any]) -> str | None:
    """The original's `--netG` name for an inferred generator config, None for other depths."""
    depth = config["n_blocks"] if config["architecture"] == "resnet" else config["num_downs"]
    return _ORIGINAL_GENERATORS.get((config["architecture"], depth))


def _infer(infer, state: StateDict, path: str | os.PathLike) -> dict[str, Any]:
    try:
        return infer(state)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _load_into(net: nn.Module, state: StateDict, norm: str, path: str | os.PathLike) -> None:
    if norm == "instance":
        # Instance norm keeps no statistics: drop those of pre-0.4 files, as the original's loader does.
        state = {key: value for key, value in state.items() if not key.endswith(_RUNNING_STATS)}
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the architecture inferred from its keys: {error}") from None


# ------------------------------------------------------------------------ single networks
def build_generator_from_config(config: dict[str, Any], use_dropout: bool = True) -> nn.Module:
    """Our generator for an inferred config; `use_dropout` applies to a U-Net, whose file does
    not record it (True: the original's default)."""
    kwargs = {key: value for key, value in config.items() if key != "architecture"}
    if config["architecture"] == "resnet":
        return ResnetGenerator(**kwargs)
    return UnetGenerator(**kwargs, use_dropout=use_dropout)


def load_original_generator(path: str | os.PathLike, use_dropout: bool = True) -> nn.Module:
    """An original generator file (`latest_net_G.pth`, `..._net_G_A.pth`) as our ResnetGenerator
    or UnetGenerator, architecture inferred, in eval mode. `use_dropout` only matters for a U-Net
    run in training mode, as the original tests pix2pix."""
    state = read_state_dict(path)
    config = _infer(infer_generator_config, state, path)
    net = build_generator_from_config(config, use_dropout)
    _load_into(net, state, config["norm"], path)
    return net.eval()


def load_original_discriminator(path: str | os.PathLike) -> PatchGANDiscriminator:
    """An original PatchGAN file (`latest_net_D.pth`) as our PatchGANDiscriminator, in eval mode."""
    state = read_state_dict(path)
    config = _infer(infer_discriminator_config, state, path)
    net = PatchGANDiscriminator(**config)
    _load_into(net, state, config["norm"], path)
    return net.eval()


# --------------------------------------------------------------------------- whole models
class _Settings:
    """Model arguments read from several files, each remembered with the file it came from, so a
    disagreement names both files."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def set(self, key: str, value: Any, source: str | os.PathLike) -> None:
        if key in self.values and self.values[key] != value:
            raise ValueError(f"{source} has {key}={value}, but {self.sources[key]} has {key}={self.values[key]}")
        self.values[key], self.sources[key] = value, str(source)

    def arguments(self, defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        """`defaults` < read values < `overrides`; an override that contradicts a file is an error."""
        for key, value in overrides.items():
            if key in self.values and self.values[key] != value:
                raise ValueError(f"{key}={value!r} contradicts {self.sources[key]}, which has {key}={self.values[key]!r}")
        return {**defaults, **self.values, **overrides}


def load_original_pix2pix(g_path: str | os.PathLike, d_path: str | os.PathLike | None = None, **overrides: Any) -> Pix2Pix:
    """A Pix2Pix with the original's `<epoch>_net_G.pth` (and `_net_D.pth`) loaded.

    `ngf`, `num_downs`, `norm`, the channels and, from D, `ndf` and `n_layers_D` are read off the
    files; `overrides` set the other `Pix2Pix` arguments. The files do not say which domain is the
    input: `direction` defaults to `AtoB` (G maps A to B); pass `direction="BtoA"` for a model
    trained with `--direction BtoA` to keep A and B as the dataset names them.
    """
    state = read_state_dict(g_path)
    config = _infer(infer_generator_config, state, g_path)
    if config["architecture"] != "unet":
        raise ValueError(
            f"{g_path} holds a ResNet generator; i2i_zoo's Pix2Pix builds a U-Net (the original's pix2pix "
            "--netG unet_256 or unet_128). load_original_generator loads it as a plain network"
        )
    direction = overrides.get("direction", "AtoB")
    source, target = ("channels_A", "channels_B") if direction == "AtoB" else ("channels_B", "channels_A")
    settings = _Settings()
    for key, value in ((source, config["in_channels"]), (target, config["out_channels"]), ("ngf", config["ngf"]),
                       ("num_downs", config["num_downs"]), ("norm", config["norm"])):
        settings.set(key, value, g_path)
    networks = {"G": (state, g_path)}
    if d_path is not None:
        d_state = read_state_dict(d_path)
        d_config = _infer(infer_discriminator_config, d_state, d_path)
        pair = config["in_channels"] + config["out_channels"]
        if d_config["in_channels"] != pair:
            raise ValueError(f"{d_path} judges {d_config['in_channels']}-channel inputs, but {g_path}'s (input, output) pairs have {pair}")
        settings.set("norm", d_config["norm"], d_path)
        settings.set("ndf", d_config["ndf"], d_path)
        settings.set("n_layers_D", d_config["n_layers"], d_path)
        networks["D"] = (d_state, d_path)
    # Any crop size the U-Net takes; 256 (the original's) for the usual depths.
    defaults = {"image_size": max(256, 2 ** config["num_downs"])}
    model = Pix2Pix(**settings.arguments(defaults, overrides))
    for name, (net_state, path) in networks.items():
        _load_into(getattr(model, name), net_state, model.hparams.norm, path)
    return model.eval()


def load_original_cyclegan(
    g_A_path: str | os.PathLike | None,
    g_B_path: str | os.PathLike | None = None,
    d_A_path: str | os.PathLike | None = None,
    d_B_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> CycleGAN:
    """A CycleGAN with the original's `<epoch>_net_G_A.pth`, `_net_G_B.pth` (and `_net_D_A.pth`,
    `_net_D_B.pth`) loaded: its G_A (A -> B) is our `G`, G_B our `F`, D_A (which judges B) our
    `D_B`, D_B our `D_A`.

    Architecture, `ngf`, `norm`, `use_dropout`, the channels and, from the discriminators, `ndf`
    and `n_layers_D` are read off the files; `overrides` set the other `CycleGAN` arguments.
    One generator is enough (the published models ship one, `latest_net_G.pth`): the networks
    without a file keep their random initialisation, with a warning naming them, and `direction`
    defaults to the loaded generator's, so `translate` and predict use it.
    """
    files = {"G": g_A_path, "F": g_B_path, "D_B": d_A_path, "D_A": d_B_path}
    if g_A_path is None and g_B_path is None:
        raise ValueError("give at least one generator file: G_A (A -> B) or G_B (B -> A)")
    settings = _Settings()
    networks: dict[str, tuple[StateDict, str | os.PathLike]] = {}
    for name, (source, target) in {"G": ("channels_A", "channels_B"), "F": ("channels_B", "channels_A")}.items():
        if files[name] is None:
            continue
        state = read_state_dict(files[name])
        config = _infer(infer_generator_config, state, files[name])
        generator = original_generator_name(config)
        if generator is None:
            raise ValueError(
                f"{files[name]} holds a {config['architecture']} generator of an unusual depth ({config}); "
                f"CycleGAN builds {', '.join(_ORIGINAL_GENERATORS.values())}"
            )
        for key, value in ((source, config["in_channels"]), (target, config["out_channels"]), ("generator", generator),
                           ("ngf", config["ngf"]), ("norm", config["norm"])):
            settings.set(key, value, files[name])
        if "use_dropout" in config:
            settings.set("use_dropout", config["use_dropout"], files[name])
        networks[name] = (state, files[name])
    for name, domain in (("D_A", "A"), ("D_B", "B")):
        if files[name] is None:
            continue
        state = read_state_dict(files[name])
        config = _infer(infer_discriminator_config, state, files[name])
        channels = settings.values[f"channels_{domain}"]
        if config["in_channels"] != channels:
            raise ValueError(
                f"{files[name]} judges {config['in_channels']}-channel images, but domain {domain} has {channels} "
                f"({settings.sources[f'channels_{domain}']}); the original's D_A judges domain B images, its D_B domain A"
            )
        for key, value in (("ndf", config["ndf"]), ("n_layers_D", config["n_layers"]), ("norm", config["norm"])):
            settings.set(key, value, files[name])
        networks[name] = (state, files[name])
    defaults = {"direction": "AtoB" if g_A_path is not None else "BtoA"}
    if settings.values["channels_A"] != settings.values["channels_B"]:
        defaults["lambda_identity"] = 0.0  # the identity term needs equal channels (as in the original)
    model = CycleGAN(**settings.arguments(defaults, overrides))
    for name, (state, path) in networks.items():
        _load_into(getattr(model, name), state, model.hparams.norm, path)
    missing = [name for name in files if name not in networks]
    if missing:
        original = {ours: theirs for theirs, ours in CYCLEGAN_NAMES.items()}
        warnings.warn(
            "CycleGAN networks " + ", ".join(f"{name} (the original's {original[name]})" for name in missing)
            + " have no file and keep their random initialisation"
            + (f"; translate only {'AtoB' if 'G' in networks else 'BtoA'}" if {"G", "F"} & set(missing) else ""),
            stacklevel=2,
        )
    return model.eval()


# ---------------------------------------------------------------------- back to the original
def _original_names(model: I2IMethod) -> dict[str, str]:
    if isinstance(model, Pix2Pix):
        return PIX2PIX_NAMES
    if isinstance(model, CycleGAN):
        return CYCLEGAN_NAMES
    raise TypeError(f"{type(model).__name__} has no counterpart in the original code; Pix2Pix and CycleGAN do")


def to_original_state_dicts(model: I2IMethod) -> dict[str, StateDict]:
    """Our Pix2Pix ({"G", "D"}) or CycleGAN ({"G_A", "G_B", "D_A", "D_B"}) networks as the
    original's state dicts, by its file names (`<epoch>_net_<name>.pth`), on the CPU."""
    names = _original_names(model)
    if model.hparams.norm == "none":
        raise ValueError("norm 'none' networks have conv biases here and none in the original: there is no original layout for them")
    return {
        original: {key: value.detach().cpu().clone() for key, value in getattr(model, ours).state_dict().items()}
        for original, ours in names.items()
    }


def save_original(model: I2IMethod, folder: str | os.PathLike, epoch: str = "latest") -> list[Path]:
    """Write the original's `<epoch>_net_<name>.pth` files (what its `--epoch` option loads)."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, state in to_original_state_dicts(model).items():
        path = folder / f"{epoch}_net_{name}.pth"
        AtomicCheckpointIO().save_checkpoint(state, path)
        written.append(path)
    return written
