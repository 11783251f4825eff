import math

import pytest
import torch
import torch.nn as nn

from i2i_zoo.nets import conv_bias, get_norm_layer, init_weights


def test_norm_factories():
    batch = get_norm_layer("batch")(16)
    assert isinstance(batch, nn.BatchNorm2d) and batch.affine and batch.track_running_stats
    assert batch.num_features == 16
    instance = get_norm_layer("instance")(16)
    assert isinstance(instance, nn.InstanceNorm2d)
    assert not instance.affine and not instance.track_running_stats
    assert isinstance(get_norm_layer("none")(16), nn.Identity)


def test_layer_norm_normalises_each_image_over_channels_and_pixels_keeping_channel_means():
    x = torch.randn(2, 3, 4, 4) * torch.tensor([1.0, 5.0, 9.0])[:, None, None] + torch.tensor([0.0, 2.0, -3.0])[:, None, None]
    y = get_norm_layer("layer")(3)(x)
    flat = x.reshape(2, -1)
    expected = (flat - flat.mean(1, keepdim=True)) / (flat.var(1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(y.reshape(2, -1), expected)
    assert not torch.allclose(y.mean((2, 3)), torch.zeros(2, 3), atol=0.1)  # unlike instance norm


def test_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="'group'.*batch, instance, layer, none"):
        get_norm_layer("group")
    with pytest.raises(ValueError):
        conv_bias("group")


def test_conv_bias_only_without_batch_norm():
    assert not conv_bias("batch")
    assert conv_bias("instance") and conv_bias("layer") and conv_bias("none")


def _net() -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(64, 128, 3), nn.ConvTranspose2d(128, 64, 3), nn.Linear(256, 128), nn.BatchNorm2d(4096))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(3.0)
    return net


def _std_for(init_type: str, fan_in: int, fan_out: int, gain: float) -> float:
    return {
        "normal": gain,
        "xavier": gain * math.sqrt(2.0 / (fan_in + fan_out)),
        "kaiming": math.sqrt(2.0 / fan_in),
    }[init_type]


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming"])
def test_init_statistics(init_type):
    gain = 0.05
    net = init_weights(_net(), init_type, gain)
    conv, conv_t, linear, bn = net
    # fans as torch computes them: ConvTranspose2d's weight is (in, out, k, k)
    for weight, fan_in, fan_out in ((conv.weight, 64 * 9, 128 * 9), (conv_t.weight, 64 * 9, 128 * 9),
                                    (linear.weight, 256, 128)):
        expected = _std_for(init_type, fan_in, fan_out, gain)
        assert weight.std().item() == pytest.approx(expected, rel=0.05)
        assert abs(weight.mean().item()) < 0.05 * expected
    for layer in (conv, conv_t, linear):
        assert torch.all(layer.bias == 0)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(gain, rel=0.1)
    assert torch.all(bn.bias == 0)


def test_orthogonal_init_rows_are_orthogonal_with_gain():
    conv = init_weights(_net(), "orthogonal", 0.02)[0]
    rows = conv.weight.flatten(1)
    torch.testing.assert_close(rows @ rows.T, 0.02**2 * torch.eye(128), atol=1e-6, rtol=0)
    assert torch.all(conv.bias == 0)


def test_default_init_is_normal_002():
    conv = init_weights(_net())[0]
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_unknown_init_type():
    with pytest.raises(ValueError, match="'uniform'.*normal, xavier, kaiming, orthogonal"):
        init_weights(_net(), "uniform")
