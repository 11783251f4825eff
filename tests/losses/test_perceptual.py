import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from i2i_zoo.losses import (
    PerceptualLoss,
    content_loss,
    gram_matrix,
    load_perceptual_loss,
    load_vgg_features,
    style_loss,
    vgg_layer_names,
)

# Real VGG16 shapes of `features` up to relu2_2 (index 8): convs at 0, 2, 5, 7.
_VGG16_CONV_SHAPES = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128)}


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture
def vgg16_file(tmp_path, monkeypatch):
    """A VGG16 state dict of the layers up to relu2_2 only, random values, as torchvision names them."""
    monkeypatch.delenv("I2I_ZOO_VGG_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, (out_channels, in_channels) in _VGG16_CONV_SHAPES.items():
        state[f"features.{index}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * 0.1
        state[f"features.{index}.bias"] = torch.randn(out_channels, generator=generator) * 0.1
    path = tmp_path / "vgg16_head.pth"
    torch.save(state, path)
    return path, state


def _assert_loaded(extractor, state):
    assert set(extractor.state_dict()) == set(state)
    for key, value in extractor.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_layer_names_match_the_known_torchvision_indices():
    vgg16, vgg19 = vgg_layer_names("vgg16"), vgg_layer_names("vgg19")
    assert [vgg16.index(name) for name in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")] == [3, 8, 15, 22, 29]
    assert [vgg19.index(name) for name in ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")] == [3, 8, 17, 26, 35]
    assert len(vgg16) == 31 and len(vgg19) == 37


def test_loads_through_the_path_option_and_keeps_only_the_layers_needed(vgg16_file):
    path, state = vgg16_file
    extractor = load_vgg_features(["relu1_2", "relu2_2"], vgg_weights=path)
    _assert_loaded(extractor, state)
    assert len(extractor.features) == 9
    assert [type(module) for module in extractor.features] == [
        nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU
    ]
    assert not extractor.training
    assert not any(parameter.requires_grad for parameter in extractor.parameters())


def test_a_shallower_layer_keeps_fewer_modules_and_ignores_the_deeper_weights(vgg16_file):
    path, state = vgg16_file
    extractor = load_vgg_features(["conv1_2"], vgg_weights=path)
    assert len(extractor.features) == 3
    _assert_loaded(extractor, {key: value for key, value in state.items() if key.split(".")[1] in ("0", "2")})


def test_loads_through_the_environment_variable(vgg16_file, monkeypatch):
    path, state = vgg16_file
    monkeypatch.setenv("I2I_ZOO_VGG_WEIGHTS", str(path))
    _assert_loaded(load_vgg_features(["relu2_2"]), state)


def test_loads_from_torch_hub_cache(vgg16_file, tmp_path, monkeypatch):
    path, state = vgg16_file
    checkpoints = tmp_path / "torch_home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    path.rename(checkpoints / "vgg16-397923af.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    _assert_loaded(load_vgg_features(["relu2_2"]), state)


def test_missing_weights_name_the_option_variable_and_file(vgg16_file):
    with pytest.raises(FileNotFoundError) as error:
        load_vgg_features(["relu2_2"], architecture="vgg19")
    message = str(error.value)
    assert "vgg19-dcbb9e9d.pth" in message and "I2I_ZOO_VGG_WEIGHTS" in message and "vgg_weights" in message


def test_weights_without_the_kept_layers_are_refused(vgg16_file):
    path, _ = vgg16_file
    with pytest.raises(ValueError, match="relu3_1"):
        load_vgg_features(["relu3_1"], vgg_weights=path)


def test_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="relu4_4"):
        load_vgg_features(["relu4_4"], architecture="vgg16")


def test_content_loss_matches_a_truncated_torchvision_vgg16(vgg16_file):
    path, state = vgg16_file
    perceptual = load_perceptual_loss(["relu1_2", "relu2_2"], ["relu2_2"], vgg_weights=path)
    reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])[:9]
    reference.load_state_dict({key.removeprefix("features."): value for key, value in state.items()})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, y = _images(2, 3, 16, 16, seed=1), _images(2, 3, 16, 16, seed=2)
    with torch.no_grad():
        a1, b1 = (reference[:4](((image + 1) / 2 - mean) / std) for image in (x, y))
        a2, b2 = reference[4:](a1), reference[4:](b1)
        expected = F.mse_loss(a1, b1) + F.mse_loss(a2, b2)
        torch.testing.assert_close(perceptual.content(x, y), expected)
        assert perceptual.content(x, x).item() == 0
        assert perceptual.content(x, y).item() > 0


def test_a_conv_layer_keeps_its_output_before_the_in_place_relu(vgg16_file):
    path, _ = vgg16_file
    features = load_vgg_features(["conv1_1", "relu1_1"], vgg_weights=path)(_images(1, 3, 8, 8))
    assert features["conv1_1"].min() < 0
    torch.testing.assert_close(features["relu1_1"], features["conv1_1"].clamp(min=0))


def test_gray_images_are_their_rgb_repetition(vgg16_file):
    path, _ = vgg16_file
    extractor = load_vgg_features(["relu1_2"], vgg_weights=path)
    gray = _images(1, 1, 8, 8)
    torch.testing.assert_close(extractor(gray)["relu1_2"], extractor(gray.repeat(1, 3, 1, 1))["relu1_2"])


def test_gram_matrix_of_a_hand_made_tensor():
    # Two channels over two pixels: (1, 2) and (3, 4); inner products 5, 11, 25 over C*H*W = 4.
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    torch.testing.assert_close(gram_matrix(features), torch.tensor([[[1.25, 2.75], [2.75, 6.25]]]))


def test_style_loss_of_hand_made_features():
    a = {"layer": torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)}
    b = {"layer": torch.zeros(1, 2, 1, 2)}
    # Mean of the squared Gram entries 1.25, 2.75, 2.75, 6.25.
    expected = (1.25**2 + 2 * 2.75**2 + 6.25**2) / 4
    assert style_loss(a, b, ["layer"]).item() == pytest.approx(expected)
    assert content_loss(a, b, ["layer"]).item() == pytest.approx((1 + 4 + 9 + 16) / 4)


class _Pointwise(nn.Module):
    """A custom extractor: 1x1 convolutions, so permuting pixels permutes the feature maps."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 4, 1)
        self.second = nn.Conv2d(4, 5, 1)

    def forward(self, images):
        first = torch.relu(self.first(images))
        return {"first": first, "second": self.second(first)}


def test_style_ignores_where_pixels_are_but_content_does_not():
    torch.manual_seed(0)
    perceptual = PerceptualLoss(_Pointwise(), content_layers=["first", "second"], style_layers=["first", "second"])
    x, y = _images(2, 3, 6, 6, seed=3), _images(2, 3, 6, 6, seed=4)
    order = torch.randperm(36, generator=torch.Generator().manual_seed(5))
    shuffled = x.flatten(2)[..., order].view_as(x)
    with torch.no_grad():
        torch.testing.assert_close(perceptual.style(shuffled, y), perceptual.style(x, y))
        assert perceptual.style(shuffled, x).item() == pytest.approx(0, abs=1e-7)
        assert perceptual.content(shuffled, x).item() > 1e-3


def test_call_returns_content_and_style_and_gradients_reach_the_images():
    perceptual = PerceptualLoss(lambda images: {"pixels": images}, content_layers=["pixels"], style_layers=["pixels"])
    x, y, z = _images(1, 3, 4, 4, seed=6).requires_grad_(), _images(1, 3, 4, 4, seed=7), _images(1, 3, 4, 4, seed=8)
    content, style = perceptual(x, y, z)
    torch.testing.assert_close(content, F.mse_loss(x, y))
    torch.testing.assert_close(style, F.mse_loss(gram_matrix(x), gram_matrix(z)))
    (content + style).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_layer_names_what_the_extractor_gives():
    perceptual = PerceptualLoss(_Pointwise(), content_layers=["relu4_3"], style_layers=["first"])
    with pytest.raises(ValueError, match="relu4_3.*first, second"):
        perceptual.content(_images(1, 3, 4, 4), _images(1, 3, 4, 4))


def test_losses_stay_float32_under_autocast(vgg16_file):
    path, _ = vgg16_file
    perceptual = load_perceptual_loss(["relu1_2"], ["relu2_2"], vgg_weights=path)
    x, y = _images(1, 3, 8, 8, seed=1), _images(1, 3, 8, 8, seed=2)
    with torch.no_grad():
        expected = perceptual(x, x.flip(-1), y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            content, style = perceptual(x.bfloat16(), x.flip(-1).bfloat16(), y.bfloat16())
    assert content.dtype == style.dtype == torch.float32
    torch.testing.assert_close((content, style), expected, rtol=2e-2, atol=1e-4)
    seen = []
    custom = PerceptualLoss(lambda images: seen.append(images.dtype) or {"pixels": images}, ["pixels"], ["pixels"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        custom(x.bfloat16(), y.bfloat16(), y.bfloat16())
    assert seen == [torch.float32] * 3


class _MethodWithPerceptualLoss(pl.LightningModule):
    def __init__(self, vgg_weights):
        super().__init__()
        self.vgg_weights = vgg_weights
        self.G = nn.Conv2d(3, 3, 3, padding=1)

    def setup(self, stage):
        self.perceptual = load_perceptual_loss(["relu2_2"], ["relu1_2", "relu2_2"], vgg_weights=self.vgg_weights)


def test_a_method_keeping_the_loss_has_no_vgg_tensors_in_its_state_dict(vgg16_file):
    path, _ = vgg16_file
    method = _MethodWithPerceptualLoss(path)
    method.setup("fit")
    assert set(method.state_dict()) == {"G.weight", "G.bias"}
    assert len(list(method.parameters())) == 2
    # It still computes the loss, through a VGG that is not one of the method's modules.
    x = _images(1, 3, 8, 8)
    assert method.perceptual.content(method.G(x), x).item() > 0
    assert all(module is not method.perceptual.extractor for module in method.modules())
