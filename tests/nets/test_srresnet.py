import math

import pytest
import torch
import torch.nn as nn

from i2i_zoo.nets import SRResNet
from i2i_zoo.nets.srresnet import ShiftBatchNorm2d


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _tiny(**kwargs) -> SRResNet:
    return SRResNet(num_features=8, num_blocks=2, **kwargs)


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize(("in_ch", "out_ch"), [(3, 3), (1, 3), (3, 1)])
def test_output_is_scale_times_larger(scale, in_ch, out_ch):
    net = _tiny(in_channels=in_ch, out_channels=out_ch, scale=scale)
    assert net(torch.randn(2, in_ch, 6, 5)).shape == (2, out_ch, 6 * scale, 5 * scale)
    assert (net.in_channels, net.out_channels, net.scale, net.size_multiple) == (in_ch, out_ch, scale, 1)
    assert sum(isinstance(m, nn.PixelShuffle) for m in net.modules()) == int(math.log2(scale))


def test_parameter_count_of_the_paper_network():
    f, c = 64, 3  # features, image channels
    head = (9 * 9 * c * f + f) + f  # 9x9 conv with bias, PReLU slopes
    block = 2 * (3 * 3 * f * f) + 2 * f + f  # two bias-free convs, two BNs (shift only: TF's scale=False), PReLU
    body = 16 * block + 3 * 3 * f * f + f  # 16 blocks, then conv + BN before the long skip
    stage = (3 * 3 * f * 4 * f + 4 * f) + f  # conv to 256 channels with bias, PReLU after the shuffle
    tail = 9 * 9 * f * c + c
    expected = head + body + 2 * stage + tail
    assert expected == 1_546_435
    net = SRResNet()
    assert _n_params(net) == expected
    # PyTorch's batch norm adds a scale to each of the 33 BNs; without BN the convs take a bias instead.
    assert _n_params(SRResNet(norm="batch")) == expected + 33 * f == 1_548_547
    assert _n_params(SRResNet(norm="none")) == expected
    assert net.eval()(torch.randn(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_batch_tf_is_tf_batch_norm_without_scale():
    """eps 1e-3, a learned shift, no scale; moving averages (momentum 0.1 = TF's decay 0.9) in eval mode."""
    net = _tiny()
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 * 2 + 1 and all(isinstance(m, ShiftBatchNorm2d) for m in norms)
    bn = norms[0]
    assert (bn.eps, bn.momentum, bn.weight) == (1e-3, 0.1, None)
    assert list(bn.state_dict()) == ["bias", "running_mean", "running_var", "num_batches_tracked"]
    x = torch.randn(4, 8, 5, 6) * 3 + 1
    with torch.no_grad():
        bn.bias.copy_(torch.linspace(-1, 1, 8))
        bn.train()(x)
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))  # PyTorch's running variance is the unbiased one
        torch.testing.assert_close(bn.running_mean, 0.1 * mean)
        torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * var)
        shape = (1, -1, 1, 1)
        expected = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + 1e-3) + bn.bias.view(shape)
        torch.testing.assert_close(bn.eval()(x), expected)
    bn.reset_parameters()  # as meta-device initialisation calls it
    assert torch.all(bn.bias == 0) and torch.all(bn.running_var == 1) and bn.weight is None


@pytest.mark.parametrize("norm", ["batch_tf", "batch", "none"])
def test_output_stays_in_tanh_range(norm):
    net = _tiny(norm=norm)
    with torch.no_grad():
        for p in net.tail[0].parameters():
            p.mul_(100)  # drive the tanh into saturation
        out = net(10 * torch.randn(2, 3, 8, 8))
    assert out.abs().max() <= 1 and out.abs().max() > 0.99


def test_norm_none_has_no_batch_norm_and_biased_convs():
    net = _tiny(norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d))
    batch = _tiny()
    assert sum(isinstance(m, nn.BatchNorm2d) for m in batch.modules()) == 2 * 2 + 1
    assert sum(m.bias is None for m in batch.modules() if isinstance(m, nn.Conv2d)) == 2 * 2 + 1


def test_pixel_shuffle_takes_sub_pixel_ij_from_channel_4c_plus_2i_plus_j():
    """The order of the TF code's pixelShuffler, so its upsampling weights map channel for channel."""
    net = _tiny(scale=2)
    conv, shuffle = net.upsample[0], net.upsample[1]
    with torch.no_grad():
        nn.init.zeros_(conv.weight)
        conv.bias.copy_(torch.arange(conv.out_channels, dtype=torch.float32))
        out = shuffle(conv(torch.randn(1, 8, 3, 3)))
    c, i, j = torch.meshgrid(torch.arange(8), torch.arange(6) % 2, torch.arange(6) % 2, indexing="ij")
    torch.testing.assert_close(out[0], (4 * c + 2 * i + j).float())


def test_every_parameter_gets_a_gradient():
    net = _tiny(scale=4)
    net(torch.randn(2, 3, 6, 6)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_initialisation_is_xavier_uniform_with_zero_biases_and_slopes():
    net = SRResNet()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert m.weight.abs().max() <= bound
            assert m.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
            assert m.bias is None or torch.all(m.bias == 0)
        elif isinstance(m, nn.PReLU):
            assert torch.all(m.weight == 0)
        elif isinstance(m, nn.BatchNorm2d):
            assert m.weight is None and torch.all(m.bias == 0)


@pytest.mark.parametrize("scale", [1, 3, 16])
def test_bad_scale_names_the_option(scale):
    with pytest.raises(ValueError, match=r"model\.scale.*2, 4, 8"):
        SRResNet(scale=scale)


def test_bad_norm_names_the_choices():
    with pytest.raises(ValueError, match="'instance'.*batch_tf, batch, none"):
        SRResNet(norm="instance")
