import math

import lightning.pytorch as pl
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from i2i_zoo.data.demo import LUMA, TINT_STRENGTH, TINTS, ensure_demo
from i2i_zoo.data.io import read_image, to_tensor
from i2i_zoo.losses import (
    LumaThumbnail,
    MutualInformationLoss,
    info_nce,
    load_identity_encoder,
    mutual_information_loss,
)

TIMM_MODEL = "test_resnet"  # timm's tiny test network: real code paths, 0.5 M parameters


def _features(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _frozen_encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)).requires_grad_(False).eval()


def test_info_nce_matches_a_naive_double_loop():
    a, b = _features(4, 3, seed=1), _features(4, 3, seed=2)
    rows, n = a.tolist(), len(a)

    def critic(x, y):
        return -math.sqrt(sum((xi - yi) ** 2 for xi, yi in zip(x, y)))

    expected = sum(
        critic(rows_a, rows_b) - math.log(sum(math.exp(critic(rows_a, other)) for other in b.tolist()) / n)
        for rows_a, rows_b in zip(rows, b.tolist())
    ) / n
    assert info_nce(a, b).item() == pytest.approx(expected, rel=1e-5)


def test_info_nce_is_highest_when_outputs_are_the_inputs():
    a = _features(8, 6) * 3
    shuffled = a[torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])]
    matched = info_nce(a, a)
    assert matched > info_nce(a, shuffled)
    assert matched > info_nce(a, a + 0.5 * _features(8, 6, seed=3))
    assert matched <= math.log(8) + 1e-6  # InfoNCE never exceeds log N


def test_info_nce_refuses_mismatched_features():
    with pytest.raises(ValueError, match=r"one shape \(N, D\)"):
        info_nce(_features(4, 3), _features(4, 2))


def test_gradients_reach_the_generator_but_not_phi():
    phi, generator = _frozen_encoder(), nn.Conv2d(3, 3, 3, padding=1)
    inputs = _images(4, 3, 8, 8)
    loss = mutual_information_loss(phi, inputs, generator(inputs))
    loss.backward()
    assert generator.weight.grad.abs().sum() > 0
    assert all(parameter.grad is None for parameter in phi.parameters())


def test_a_trainable_or_training_phi_is_refused():
    inputs = _images(2, 3, 8, 8)
    with pytest.raises(ValueError, match="frozen and in eval mode.*parameters requiring grad"):
        mutual_information_loss(_frozen_encoder().requires_grad_(True), inputs, inputs)
    with pytest.raises(ValueError, match="frozen and in eval mode.*train mode"):
        mutual_information_loss(_frozen_encoder().train(), inputs, inputs)


def test_luma_thumbnail_uses_the_demo_luma_and_ignores_an_exact_tint():
    assert tuple(LumaThumbnail().luma.flatten().tolist()) == pytest.approx(LUMA)
    photo = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.6
    luma = torch.tensor(LUMA).view(1, 3, 1, 1)
    tint = torch.tensor(TINTS["blue"]).view(1, 3, 1, 1)
    # The demo's tint before clipping and rounding: it keeps every pixel's luma.
    tinted = (1 - TINT_STRENGTH) * photo + TINT_STRENGTH * (photo * luma).sum(1, keepdim=True) * tint / (tint * luma).sum()
    assert tinted.max() <= 1
    encoder = load_identity_encoder("luma_thumbnail")
    features = encoder(photo * 2 - 1)
    assert features.shape == (2, 64)
    torch.testing.assert_close(encoder(tinted * 2 - 1), features, atol=1e-5, rtol=0)
    torch.testing.assert_close(features.norm(dim=1), torch.ones(2), atol=1e-5, rtol=0)


def test_luma_thumbnail_of_demo_tints_is_the_scene_not_the_colour():
    root = ensure_demo("tints", "multi_domain")
    # Equal names in test/ are one scene in every tint.
    files = [root / "test" / "red" / "0001.png", root / "test" / "blue" / "0001.png", root / "test" / "red" / "0002.png"]
    images = torch.stack([to_tensor(read_image(path)) for path in files])
    red, blue, other_scene = load_identity_encoder("luma_thumbnail")(images)
    assert F.cosine_similarity(red, blue, dim=0) > 0.99
    assert F.cosine_similarity(red, other_scene, dim=0) < 0.9


@pytest.fixture
def timm_weights(tmp_path, monkeypatch):
    """A state dict of the full timm test network (classifier included), as a pretrained file holds it."""
    monkeypatch.delenv("I2I_ZOO_IDENTITY_WEIGHTS", raising=False)
    torch.manual_seed(0)
    model = timm.create_model(TIMM_MODEL, pretrained=False).eval()
    path = tmp_path / "test_resnet.pth"
    torch.save(model.state_dict(), path)
    return path, model


def _expected_timm_features(model: nn.Module, images: torch.Tensor, size: int) -> torch.Tensor:
    config = model.pretrained_cfg
    unit = F.interpolate((images + 1) / 2, size=(size, size), mode="bilinear", antialias=True)
    normalised = (unit - torch.tensor(config["mean"]).view(1, 3, 1, 1)) / torch.tensor(config["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return model.forward_head(model.forward_features(normalised), pre_logits=True)


def test_timm_encoder_loads_through_the_option_and_gives_pooled_features(timm_weights):
    path, model = timm_weights
    encoder = load_identity_encoder(f"timm:{TIMM_MODEL}", weights=path)
    assert not encoder.training and not any(parameter.requires_grad for parameter in encoder.parameters())
    images = _images(2, 3, 64, 64)
    features = encoder(images)
    assert features.shape == (2, model.num_features)
    torch.testing.assert_close(features, _expected_timm_features(model, images, 160))  # its default input size


def test_timm_encoder_loads_through_the_environment_variable_and_safetensors(timm_weights, tmp_path, monkeypatch):
    path, model = timm_weights
    safetensors_path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), safetensors_path)
    monkeypatch.setenv("I2I_ZOO_IDENTITY_WEIGHTS", str(safetensors_path))
    encoder = load_identity_encoder(f"timm:{TIMM_MODEL}", image_size=96)
    images = _images(2, 3, 64, 64)
    torch.testing.assert_close(encoder(images), _expected_timm_features(model, images, 96))


def test_timm_encoder_without_weights_names_the_option_and_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("I2I_ZOO_IDENTITY_WEIGHTS", raising=False)
    expected = r"test_resnet.*model\.safetensors.*I2I_ZOO_IDENTITY_WEIGHTS.*model\.identity_weights"
    with pytest.raises(FileNotFoundError, match=expected):
        load_identity_encoder(f"timm:{TIMM_MODEL}")
    with pytest.raises(FileNotFoundError, match="model.identity_weights=.*missing.pth: no such file"):
        load_identity_encoder(f"timm:{TIMM_MODEL}", weights=tmp_path / "missing.pth")


def test_timm_encoder_refuses_weights_of_another_network(timm_weights, tmp_path):
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("test_vit", pretrained=False).state_dict(), path)
    with pytest.raises(ValueError, match="does not hold the backbone's weights"):
        load_identity_encoder(f"timm:{TIMM_MODEL}", weights=path)
    with pytest.raises(ValueError, match="timm:no_such_network"):
        load_identity_encoder("timm:no_such_network", weights=timm_weights[0])


def test_class_path_encoder_is_built_and_frozen(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_ZOO_IDENTITY_WEIGHTS", raising=False)
    encoder = load_identity_encoder("torch.nn.Flatten")
    assert isinstance(encoder, nn.Flatten) and not encoder.training
    assert encoder(_images(2, 3, 4, 4)).shape == (2, 48)
    weights = tmp_path / "flatten.pth"
    torch.save({"unexpected": torch.zeros(1)}, weights)
    with pytest.raises(ValueError, match="does not fit torch.nn.Flatten"):
        load_identity_encoder("torch.nn.Flatten", weights=weights)


def test_unusable_kinds_are_refused_clearly():
    with pytest.raises(ValueError, match="cannot import 'no_such_package.module'"):
        load_identity_encoder("no_such_package.module.Encoder")
    with pytest.raises(ValueError, match="torch.nn.functional has no nn.Module class 'relu'"):
        load_identity_encoder("torch.nn.functional.relu")
    with pytest.raises(ValueError, match="constructible without arguments"):
        load_identity_encoder("torch.nn.Linear")
    with pytest.raises(ValueError, match="unknown identity encoder 'arcface'.*luma_thumbnail, timm:"):
        load_identity_encoder("arcface")
    with pytest.raises(ValueError, match="image_size is an option of the timm identity encoders only"):
        load_identity_encoder("luma_thumbnail", image_size=64)
    with pytest.raises(ValueError, match="luma_thumbnail identity encoder has no weights"):
        load_identity_encoder("luma_thumbnail", weights="phi.pth")


class _MethodWithMutualInformation(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.G = nn.Conv2d(3, 3, 3, padding=1)
        self.mutual_information = MutualInformationLoss(_frozen_encoder())


def test_a_method_keeping_the_loss_has_no_phi_tensors_in_its_state_dict():
    method = _MethodWithMutualInformation()
    assert set(method.state_dict()) == {"G.weight", "G.bias"}
    assert len(list(method.parameters())) == 2
    inputs = _images(4, 3, 8, 8)
    loss = method.mutual_information(inputs, method.G(inputs))
    assert loss.dtype == torch.float32 and loss.requires_grad
