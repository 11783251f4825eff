"""Import of the networks of the original StarGAN code (yunjey/stargan).

The original saves its networks as plain state dicts, `<iteration>-G.ckpt` and `<iteration>-D.ckpt`
(the published models: `200000-G.ckpt`, `200000-D.ckpt`). Its generator is one `nn.Sequential`
(`main.<i>`); ours splits off the output conv (`trunk.main.<i>`, `head.0`), with the same indices.
Its discriminator's heads `conv1` (source) and `conv2` (classes) are our `src` and `cls`. Its
instance norms track running statistics that it never uses (it never switches to eval mode):
they are dropped, and ours always normalise per image, in train and eval mode alike.
"""

from __future__ import annotations

import os
import re
from typing import Any

from torch import nn

from i2i_zoo.methods.stargan import StarGAN
from i2i_zoo.weights import StateDict, read_state_dict

# The paper's CelebA attributes, in the order of the original's default --selected_attrs.
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
DEFAULT_IMAGE_SIZE = 128

_RUNNING_STATS = (".running_mean", ".running_var", ".num_batches_tracked")
# Stem (conv, IN, ReLU) and two downsamplings (conv, IN, ReLU) come before the residual blocks.
_FIRST_BLOCK = 9


def _keys(state: StateDict) -> str:
    return f"{', '.join(list(state)[:4])}{', ...' if len(state) > 4 else ''}"


def infer_stargan_generator_config(state: StateDict) -> dict[str, Any]:
    """`c_dim`, `conv_dim` and `repeat_num` of an original StarGAN Generator's state dict."""
    if "main.0.weight" not in state or state["main.0.weight"].dim() != 4 or "main.1.weight" not in state:
        hint = " (it looks like a StarGAN discriminator: pass it as the D file)" if "conv2.weight" in state else ""
        raise ValueError(
            f"not a generator of the original StarGAN{hint}: expected the keys of its Generator "
            f"(main.0.weight, main.1.weight, main.9.main.0.weight, ...); found {_keys(state)}"
        )
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(r"main\.(\d+)\.main\.", key))})
    if blocks != list(range(_FIRST_BLOCK, _FIRST_BLOCK + len(blocks))):
        raise ValueError(f"residual blocks at main.{blocks}: expected consecutive blocks from main.{_FIRST_BLOCK}")
    # Two upsamplings (ConvTranspose, IN, ReLU) follow the blocks, then the output conv.
    last = _FIRST_BLOCK + len(blocks) + 6
    if f"main.{last}.weight" not in state or f"main.{last + 1}.weight" in state:
        raise ValueError(f"expected the output conv at main.{last} after {len(blocks)} residual blocks, the original's layout")
    stem = state["main.0.weight"]
    if state[f"main.{last}.weight"].shape[0] != 3 or stem.shape[1] <= 3:
        raise ValueError(f"the generator maps {stem.shape[1]} input channels to {state[f'main.{last}.weight'].shape[0]}: "
                         "the original's takes RGB images plus the labels and gives RGB")
    return {"c_dim": stem.shape[1] - 3, "conv_dim": stem.shape[0], "repeat_num": len(blocks)}


def infer_stargan_discriminator_config(state: StateDict) -> dict[str, Any]:
    """`c_dim`, `conv_dim`, `repeat_num` and `image_size` (its classification kernel x
    2**repeat_num) of an original StarGAN Discriminator's state dict."""
    if "conv1.weight" not in state or "conv2.weight" not in state or "main.0.weight" not in state:
        hint = " (it looks like a StarGAN generator: pass it as the G file)" if "main.1.weight" in state else ""
        raise ValueError(
            f"not a discriminator of the original StarGAN{hint}: expected main.0.weight, conv1.weight and "
            f"conv2.weight; found {_keys(state)}"
        )
    convs = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r"main\.(\d+)\.weight", key)))
    if convs != list(range(0, 2 * len(convs), 2)):
        raise ValueError(f"convs at main.{convs}: expected main.0, main.2, ... (conv, LeakyReLU pairs), the original's layout")
    if state["main.0.weight"].shape[1] != 3:
        raise ValueError(f"the discriminator judges {state['main.0.weight'].shape[1]}-channel images; the original's judges RGB")
    kernel = state["conv2.weight"].shape[-1]
    return {"c_dim": state["conv2.weight"].shape[0], "conv_dim": state["main.0.weight"].shape[0],
            "repeat_num": len(convs), "image_size": kernel * 2 ** len(convs)}


def _generator_state(state: StateDict, repeat_num: int) -> StateDict:
    last = f"main.{_FIRST_BLOCK + repeat_num + 6}."
    return {
        ("head.0." + key.removeprefix(last)) if key.startswith(last) else f"trunk.{key}": value
        for key, value in state.items()
        if not key.endswith(_RUNNING_STATS)
    }


def _discriminator_state(state: StateDict) -> StateDict:
    renamed = {"conv1.": "src.", "conv2.": "cls."}
    return {next((new + key.removeprefix(old) for old, new in renamed.items() if key.startswith(old)), key): value
            for key, value in state.items()}


def _load_into(net: nn.Module, state: StateDict, path: str | os.PathLike) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the architecture inferred from its keys: {error}") from None


def load_original_stargan(
    g_path: str | os.PathLike,
    d_path: str | os.PathLike | None = None,
    domains: list[str] | None = None,
    label_type: str | None = None,
    image_size: int | None = None,
    **overrides: Any,
) -> StarGAN:
    """A StarGAN with the original's `<iteration>-G.ckpt` (and `-D.ckpt`) loaded, in eval mode
    (which normalises per image, as the original always does).

    The number of domains and the widths and depths of the networks are read off the files, the
    image size off D's classification kernel (without D: `image_size`, default 128). The files do
    not name the domains: `domains` defaults to the paper's CelebA attributes (Black_Hair,
    Blond_Hair, Brown_Hair, Male, Young) for 5 attribute labels, else `domain_0`, `domain_1`, ...;
    `label_type` defaults to `attributes` (the published models are CelebA's). `overrides` set the
    other `StarGAN` arguments (e.g. `predict_target`).
    """
    g_state = read_state_dict(g_path, "the original StarGAN's generator file, e.g. 200000-G.ckpt")
    try:
        g_config = infer_stargan_generator_config(g_state)
    except ValueError as error:
        raise ValueError(f"{g_path}: {error}") from None
    c_dim = g_config["c_dim"]
    arguments: dict[str, Any] = {"g_conv_dim": g_config["conv_dim"], "g_repeat_num": g_config["repeat_num"]}
    d_state = None
    if d_path is not None:
        d_state = read_state_dict(d_path, "the original StarGAN's discriminator file, e.g. 200000-D.ckpt")
        try:
            d_config = infer_stargan_discriminator_config(d_state)
        except ValueError as error:
            raise ValueError(f"{d_path}: {error}") from None
        if d_config["c_dim"] != c_dim:
            raise ValueError(
                f"{d_path} classifies {d_config['c_dim']} domains, but {g_path} is conditioned on {c_dim}: "
                "the files come from different models"
            )
        if image_size is not None and image_size != d_config["image_size"]:
            raise ValueError(f"image_size={image_size} contradicts {d_path}, whose classification kernel makes it {d_config['image_size']}")
        image_size = d_config["image_size"]
        arguments |= {"d_conv_dim": d_config["conv_dim"], "d_repeat_num": d_config["repeat_num"]}
    contradicted = {key: value for key, value in overrides.items() if key in arguments and arguments[key] != value}
    if contradicted:
        raise ValueError(f"{contradicted} contradict the files, which have {({key: arguments[key] for key in contradicted})}")
    label_type = label_type or "attributes"
    if domains is None:
        attributes = label_type == "attributes" and c_dim == len(CELEBA_ATTRIBUTES)
        domains = list(CELEBA_ATTRIBUTES) if attributes else [f"domain_{k}" for k in range(c_dim)]
    if len(domains) != c_dim:
        raise ValueError(f"{len(domains)} domains given ({domains}), but {g_path} is conditioned on {c_dim} labels")
    model = StarGAN(
        **{"domains": list(domains), "label_type": label_type, "image_size": image_size or DEFAULT_IMAGE_SIZE,
           **arguments, **overrides}
    )
    _load_into(model.G, _generator_state(g_state, g_config["repeat_num"]), g_path)
    if d_state is not None:
        _load_into(model.D, _discriminator_state(d_state), d_path)
    return model.eval()
