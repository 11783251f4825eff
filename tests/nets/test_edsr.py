import pytest
import torch
import torch.nn as nn

from i2i_zoo.export import export_generator_file
from i2i_zoo.methods import SPLSuperResolution
from i2i_zoo.nets import EDSR
from i2i_zoo.nets.edsr import DIV2K_MEAN


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _tiny(**kwargs) -> EDSR:
    return EDSR(num_features=8, num_blocks=2, **kwargs)


def _expected_params(f: int, blocks: int, upsampler_convs: int, shuffle: int, c: int = 3) -> int:
    """Per layer, every conv 3x3 with a bias; the mean shifts are buffers and not counted."""
    head = 3 * 3 * c * f + f
    block = 2 * (3 * 3 * f * f + f)  # conv-ReLU-conv
    body = blocks * block + (3 * 3 * f * f + f)  # the blocks, then the conv before the long skip
    upsampler = upsampler_convs * (3 * 3 * f * shuffle**2 * f + shuffle**2 * f)  # conv to shuffle^2 x f channels
    tail = 3 * 3 * f * c + c
    return head + body + upsampler + tail


@pytest.mark.parametrize(("scale", "shuffles"), [(2, [2]), (3, [3]), (4, [2, 2]), (8, [2, 2, 2])])
def test_output_is_scale_times_larger_on_non_square_images(scale, shuffles):
    net = _tiny(scale=scale)
    assert net(torch.randn(2, 3, 6, 5)).shape == (2, 3, 6 * scale, 5 * scale)
    assert (net.in_channels, net.out_channels, net.scale, net.size_multiple) == (3, 3, scale, 1)
    assert [m.upscale_factor for m in net.modules() if isinstance(m, nn.PixelShuffle)] == shuffles


def test_parameter_counts_of_edsr_baseline_and_edsr_x4():
    baseline = EDSR()
    assert _n_params(baseline) == _expected_params(64, 16, upsampler_convs=2, shuffle=2) == 1_517_571
    # The official code counts its two frozen mean shifts (2 x (9 + 3)) among the parameters: 1,517,595.
    assert sum(b.numel() for b in baseline.buffers()) == 24
    with torch.device("meta"):  # 43M parameters: counted without allocating them
        full = EDSR(num_features=256, num_blocks=32, res_scale=0.1)
    assert _n_params(full) == _expected_params(256, 32, upsampler_convs=2, shuffle=2) == 43_089_923
    assert _n_params(_tiny(scale=3)) == _expected_params(8, 2, upsampler_convs=1, shuffle=3)


def test_state_dict_keys_follow_the_official_names():
    keys = list(EDSR(scale=4).state_dict())
    assert keys[:6] == ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias",
                        "head.0.weight", "head.0.bias"]
    assert {"body.0.body.0.weight", "body.0.body.2.bias", "body.15.body.2.weight", "body.16.weight",
            "tail.0.0.weight", "tail.0.2.bias", "tail.1.weight", "tail.1.bias"} <= set(keys)
    assert len(keys) == 4 + 2 + 16 * 4 + 2 + 2 * 2 + 2
    assert "tail.0.2.weight" not in EDSR(scale=3).state_dict()  # x3: one conv and one shuffle


def test_mean_shifts_are_fixed_buffers_and_load_from_a_state_dict():
    net = _tiny()
    assert not any("mean" in name for name, _ in net.named_parameters())
    state = net.state_dict()
    state["add_mean.bias"] = torch.zeros(3)
    net.load_state_dict(state)
    assert torch.equal(net.add_mean.bias, torch.zeros(3))


def test_res_scale_scales_the_residual_branch():
    net = _tiny(res_scale=0.1)
    block, x = net.body[0], torch.randn(1, 8, 5, 5)
    conv1, conv2 = block.body[0], block.body[2]
    torch.testing.assert_close(block(x), x + 0.1 * conv2(torch.relu(conv1(x))))


def test_inputs_are_mapped_to_0_255_less_the_mean_and_outputs_back():
    net = _tiny()
    seen = []
    net.head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    for conv in [*net.head.modules(), *net.body.modules(), *net.tail.modules()]:
        if isinstance(conv, nn.Conv2d):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
    x = torch.rand(2, 3, 4, 6) * 2 - 1
    with torch.no_grad():
        out = net(x)
    mean = torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1)
    torch.testing.assert_close(seen[0], (x + 1) * 127.5 - 255 * mean)
    # Zero features: the output is the mean colour alone, 255 * mean in [0, 255], so 2 * mean - 1.
    torch.testing.assert_close(out, (2 * mean - 1).expand(2, 3, 16, 24))


def test_output_is_linear_not_squashed():
    net = _tiny()
    with torch.no_grad():
        net.tail[1].bias.fill_(1000.0)
        assert net(torch.zeros(1, 3, 4, 4)).min() > 1


def test_every_parameter_gets_a_gradient():
    net = _tiny(scale=3)
    net(torch.randn(2, 3, 5, 5)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("scale", [1, 5, 16])
def test_bad_scale_names_the_option(scale):
    with pytest.raises(ValueError, match=r"model\.scale.*2, 3, 4, 8"):
        EDSR(scale=scale)


def test_mean_needs_one_value_per_channel():
    with pytest.raises(ValueError, match="rgb_mean has 3 values for 1 input and 1 output channels"):
        EDSR(1, 1)
    assert EDSR(1, 1, num_features=8, num_blocks=1, rgb_mean=(0.5,))(torch.zeros(1, 1, 3, 3)).shape == (1, 1, 12, 12)


def test_exports_as_the_super_resolution_generator(tmp_path):
    torch.manual_seed(0)
    model = SPLSuperResolution(scale=4, num_features=8, num_blocks=1)
    model.G = EDSR(scale=4, num_features=8, num_blocks=1)  # a drop-in for the SRResNet
    path = export_generator_file(model, tmp_path / "G.pt2", "pt2", example_size=16)
    x = torch.rand(3, 3, 10, 14) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(torch.export.load(path).module()(x), model.G.eval()(x), atol=1e-4, rtol=0)
