"""SPL's generators as the authors' TensorFlow code builds them (build_generator_resnet_9blocks_tf)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from i2i_zoo.nets import ReferenceTransfer, ResnetGenerator, SPLResnetGenerator, spl_generator


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _tiny(in_channels=3, out_channels=3, **kwargs) -> SPLResnetGenerator:
    torch.manual_seed(0)
    return SPLResnetGenerator(in_channels, out_channels, ngf=4, n_blocks=2, **kwargs)


@pytest.mark.parametrize(("height", "width"), [(32, 32), (20, 36), (8, 12)])
def test_output_has_the_input_size_at_multiples_of_four(height, width):
    net = _tiny(3, 1)
    assert net(torch.randn(2, 3, height, width)).shape == (2, 1, height, width)
    assert (net.in_channels, net.out_channels, net.size_multiple) == (3, 1, 4)


def test_norms_follow_every_conv_as_the_authors_place_them():
    net = _tiny()
    def kinds(seq):
        return [type(m) for m in seq if not isinstance(m, (nn.ReflectionPad2d, nn.ReLU)) and type(m).__name__ != "_TFSamePad"]
    for stage in (net.c1, net.c2, net.c3):  # conv + batch norm + ReLU
        assert kinds(stage) == [nn.Conv2d, nn.BatchNorm2d] and isinstance(stage[-1], nn.ReLU)
    for block in net.blocks:  # conv + BN + ReLU, conv + BN
        assert kinds(block.body) == [nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d]
        assert [isinstance(m, nn.ReLU) for m in block.body].count(True) == 1
    for stage in (net.c4, net.c5):  # transposed conv + affine instance norm + ReLU
        assert [type(m) for m in stage][1:] == [nn.InstanceNorm2d, nn.ReLU]
        assert isinstance(stage[0], nn.ConvTranspose2d) and stage[1].affine and stage[1].eps == 1e-5
    assert isinstance(net.c6, nn.Conv2d)  # no norm, no activation
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3 + 2 * 2
    assert all(m.affine and not m.track_running_stats and m.eps == 1e-5 for m in norms)
    assert all(m.bias is not None for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    assert not any("running" in key for key in net.state_dict())


def test_residual_block_applies_relu_after_the_sum():
    block = _tiny().blocks[0]
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x + block.body(x)))
        block.body[-1].bias.fill_(-100.0)  # F(x) far below -x: the sum is negative everywhere
        assert torch.equal(block(x), torch.zeros_like(x))


def test_stride_two_convs_pad_as_tf_same_none_before_one_after():
    net = _tiny()
    conv = net.c2[1]
    x = torch.randn(2, 4, 8, 12)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    with torch.no_grad():
        out = conv(net.c2[0](x))
        torch.testing.assert_close(out, expected)
        assert out.shape[-2:] == (4, 6)
        assert not torch.allclose(out, F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1))  # PyTorch's symmetric pad


def test_transposed_convs_are_tf_same_conv2d_transpose():
    """TF's conv2d_transpose is the gradient of conv2d with respect to its input: here of the stride-2
    conv of a 2n side padded (0, 1) as TF's SAME pads it."""
    up = _tiny().c4[0]
    x = torch.randn(2, 16, 3, 5)
    z = torch.zeros(2, 8, 6, 10, requires_grad=True)
    forward = F.conv2d(F.pad(z, (0, 1, 0, 1)), up.weight, stride=2)
    (adjoint,) = torch.autograd.grad(forward, z, grad_outputs=x)
    with torch.no_grad():
        out = up(x)
        torch.testing.assert_close(out, adjoint + up.bias.view(1, -1, 1, 1))
        torch.nn.init.normal_(up.bias)
        pytorch_same = F.conv_transpose2d(x, up.weight, up.bias, stride=2, padding=1, output_padding=1)
        assert pytorch_same.shape == out.shape and not torch.allclose(pytorch_same, up(x))  # shifted by a pixel
        torch.testing.assert_close(pytorch_same[..., :-1, :-1], up(x)[..., 1:, 1:])


def test_last_conv_pads_with_zeros():
    net = _tiny()
    x = torch.randn(1, 4, 8, 8) + 5  # far from zero, so reflect or replicate padding would differ
    with torch.no_grad():
        torch.testing.assert_close(net.c6(x), F.conv2d(F.pad(x, (3, 3, 3, 3)), net.c6.weight, net.c6.bias))


def test_batch_norm_uses_the_batch_statistics_in_eval_mode_too():
    net = _tiny()
    a, b, c = torch.randn(3, 1, 3, 16, 16).unbind()
    with torch.no_grad():
        train_out = net.train()(torch.cat([a, b]))
        eval_out = net.eval()(torch.cat([a, b]))
        with_c = net(torch.cat([a, c]))
    torch.testing.assert_close(eval_out, train_out)
    assert not torch.allclose(eval_out[0], with_c[0], atol=1e-4)  # a's output depends on its batch-mate


def test_initialisation_is_tf_truncated_normal():
    net = SPLResnetGenerator(ngf=16, n_blocks=2)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            assert m.weight.abs().max() <= 0.04 and torch.all(m.bias == 0)
        elif isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        elif isinstance(m, nn.InstanceNorm2d):
            assert (m.weight - 1).abs().max() <= 0.04 and (m.weight != 1).all() and torch.all(m.bias == 0)
    weights = torch.cat([m.weight.flatten() for m in net.blocks.modules() if isinstance(m, nn.Conv2d)])
    # A normal truncated at two standard deviations has 0.88 of its standard deviation.
    assert weights.std().item() == pytest.approx(0.02 * 0.8796, rel=0.02)


def _authors_parameter_count(in_channels: int, out_channels: int, ngf: int = 64, n_blocks: int = 9) -> int:
    """Every conv has a bias; each batch norm a scale and a shift (scale=True, center=True); each
    instance norm a scale and an offset."""
    def conv(k, c_in, c_out):
        return k * k * c_in * c_out + c_out
    c1 = conv(7, in_channels, ngf) + 2 * ngf
    c2 = conv(3, ngf, 2 * ngf) + 2 * 2 * ngf
    c3 = conv(3, 2 * ngf, 4 * ngf) + 2 * 4 * ngf
    block = 2 * (conv(3, 4 * ngf, 4 * ngf) + 2 * 4 * ngf)
    c4 = conv(3, 4 * ngf, 2 * ngf) + 2 * 2 * ngf
    c5 = conv(3, 2 * ngf, ngf) + 2 * ngf
    c6 = conv(7, ngf, out_channels)
    return c1 + c2 + c3 + n_blocks * block + c4 + c5 + c6


def test_parameter_count_is_the_authors():
    assert _n_params(SPLResnetGenerator(3, 3)) == _authors_parameter_count(3, 3) == 11_388_675
    assert _n_params(ReferenceTransfer(3)) == _authors_parameter_count(6, 3) == 11_398_083  # makeup
    assert _n_params(SPLResnetGenerator(1, 3, ngf=8, n_blocks=2)) == _authors_parameter_count(1, 3, 8, 2)


def test_final_tanh_can_be_left_out():
    net, raw = _tiny(), _tiny(final_tanh=False)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x), torch.tanh(raw(x)))


@pytest.mark.parametrize("generator", ["spl_resnet", "resnet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_reference_transfer_squashes_the_reference_plus_the_resnet_residual(generator, channels):
    torch.manual_seed(0)
    net = ReferenceTransfer(channels, ngf=8, n_blocks=1, generator=generator)
    source, reference = torch.rand(2, channels, 12, 16) * 2 - 1, torch.rand(2, channels, 12, 16) * 2 - 1
    pair = torch.cat([source, reference], 1)
    last = net.net.c6 if generator == "spl_resnet" else net.net.model[-1]
    with torch.no_grad():
        out = net(pair)
        assert out.shape == source.shape
        assert (net.in_channels, net.out_channels, net.size_multiple) == (2 * channels, channels, 4)
        assert torch.equal(out, torch.tanh(reference + net.net(pair)))
        # The ResNet has no tanh of its own: a scaled last layer leaves [-1, 1], the output does not.
        last.weight.mul_(100)
        assert net.net(pair).abs().max() > 1 and net(pair).abs().max() <= 1


def test_reference_transfer_state_dict_keys_are_the_resnets_under_net():
    for generator, resnet in [
        ("spl_resnet", SPLResnetGenerator(6, 3, ngf=8, n_blocks=1, final_tanh=False)),
        ("resnet", ResnetGenerator(6, 3, ngf=8, n_blocks=1, final_tanh=False)),
    ]:
        net = ReferenceTransfer(ngf=8, n_blocks=1, generator=generator)
        assert list(net.state_dict()) == [f"net.{key}" for key in resnet.state_dict()]


def test_spl_generator_builds_either_resnet_and_names_bad_choices():
    assert isinstance(spl_generator("spl_resnet", 3, 3, 8, 1), SPLResnetGenerator)
    resnet = spl_generator("resnet", 3, 3, 8, 1, norm="batch")
    assert isinstance(resnet, ResnetGenerator) and any(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    with pytest.raises(ValueError, match="norm='batch' applies to the `resnet` generator"):
        spl_generator("spl_resnet", 3, 3, 8, 1, norm="batch")
    with pytest.raises(ValueError, match="'unet' is unknown"):
        spl_generator("unet", 3, 3)
