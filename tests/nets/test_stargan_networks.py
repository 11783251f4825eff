"""StarGAN networks: label tiling, shapes, the classification kernel, per-image instance norm."""

import pytest
import torch

from i2i_zoo.nets import FixedLabelGenerator, StarGANDiscriminator, StarGANGenerator, StarGANTrunk, tile_labels


def test_tile_labels_repeats_each_label_over_every_pixel():
    x = torch.randn(2, 3, 4, 5)
    c = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    out = tile_labels(x, c)
    assert out.shape == (2, 5, 4, 5)
    assert torch.equal(out[:, :3], x)
    for n in range(2):
        for k in range(2):
            assert torch.all(out[n, 3 + k] == c[n, k])
    with pytest.raises(ValueError, match=r"\(N, K\) with N = 2"):
        tile_labels(x, c[:1])
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        tile_labels(x, c[0])


def test_generator_and_trunk_shapes():
    torch.manual_seed(0)
    g = StarGANGenerator(c_dim=4, conv_dim=8, repeat_num=2)
    x, c = torch.rand(2, 3, 20, 28) * 2 - 1, torch.eye(4)[:2]
    y = g(x, c)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert g.size_multiple == 4 and g.in_channels == 3
    trunk = StarGANTrunk(c_dim=4, conv_dim=8, repeat_num=2)
    assert trunk.out_channels == 8 and trunk(x, c).shape == (2, 8, 20, 28)
    # The conditioning matters: other labels, another output.
    assert not torch.allclose(y, g(x, torch.eye(4)[2:]))


def test_discriminator_heads_and_image_size():
    d = StarGANDiscriminator(image_size=128, c_dim=5, conv_dim=4, repeat_num=6)
    assert d.cls.kernel_size == (2, 2) and d.src.bias is None and d.cls.bias is None
    src, cls = d(torch.randn(3, 3, 128, 128))
    assert src.shape == (3, 1, 2, 2) and cls.shape == (3, 5)
    assert StarGANDiscriminator(image_size=256, c_dim=5, conv_dim=4).cls.kernel_size == (4, 4)
    with pytest.raises(ValueError, match=r"image_size \(model.image_size\) must be a multiple of 64, got 100"):
        StarGANDiscriminator(image_size=100)
    with pytest.raises(ValueError, match=r"built for 128x128 images \(model.image_size\), got 64x64"):
        d(torch.randn(1, 3, 64, 64))


def test_instance_norm_uses_per_image_statistics_in_eval_mode():
    torch.manual_seed(0)
    g = StarGANGenerator(c_dim=3, conv_dim=8, repeat_num=1)
    x, c = torch.randn(3, 3, 16, 16), torch.eye(3)
    train = g.train()(x, c)
    evaluated = g.eval()(x, c)
    assert torch.allclose(train, evaluated)
    assert torch.allclose(g(x[:1], c[:1]), evaluated[:1], atol=1e-6)  # no batch dependence
    assert not any(k.endswith("running_mean") for k in g.state_dict())


def test_fixed_label_generator_is_the_generator_at_those_labels():
    torch.manual_seed(0)
    g = StarGANGenerator(c_dim=3, conv_dim=8, repeat_num=1).eval()
    fixed = FixedLabelGenerator(g, torch.tensor([0.0, 1.0, 0.0]))
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(fixed(x), g(x, torch.tensor([[0.0, 1.0, 0.0]] * 2)))
    assert fixed.in_channels == 3 and fixed.size_multiple == 4
