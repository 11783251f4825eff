import pytest
import torch
import torch.nn as nn

from i2i_zoo.nets import ResnetBlock, ResnetGenerator, UnetGenerator


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: ResnetGenerator(n_blocks=9), 11_378_179),
        (lambda: ResnetGenerator(n_blocks=6), 7_837_699),
        (lambda: UnetGenerator(), 54_413_955),
    ],
    ids=["resnet_9blocks", "resnet_6blocks", "unet_256"],
)
def test_parameter_counts_match_the_original(make, expected):
    with torch.device("meta"):
        assert _n_params(make()) == expected


@pytest.mark.parametrize(("in_ch", "out_ch"), [(1, 3), (3, 1), (3, 3)])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_resnet_shapes_and_tanh_range(in_ch, out_ch, norm):
    net = ResnetGenerator(in_ch, out_ch, ngf=8, n_blocks=2, norm=norm)
    out = net(10 * torch.randn(2, in_ch, 36, 32))
    assert out.shape == (2, out_ch, 36, 32)
    assert out.abs().max() <= 1
    assert net.size_multiple == 4


@pytest.mark.parametrize(("in_ch", "out_ch"), [(1, 3), (3, 1), (3, 3)])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_shapes_and_tanh_range(in_ch, out_ch, norm):
    net = UnetGenerator(in_ch, out_ch, num_downs=5, ngf=8, norm=norm)
    out = net(10 * torch.randn(2, in_ch, 64, 32))
    assert out.shape == (2, out_ch, 64, 32)
    assert out.abs().max() <= 1


def test_resnet_blocks_dropout_and_padding():
    net = ResnetGenerator(ngf=8, n_blocks=3, use_dropout=True, padding_mode="replicate")
    blocks = [m for m in net.modules() if isinstance(m, ResnetBlock)]
    assert len(blocks) == 3
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3
    assert sum(isinstance(m, nn.ReplicationPad2d) for m in net.modules()) == 6
    zero = ResnetGenerator(ngf=8, n_blocks=1, padding_mode="zero")
    assert zero(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="padding_mode"):
        ResnetGenerator(padding_mode="circular")


def test_resnet_block_is_residual():
    block = ResnetBlock(4, norm="none")
    nn.init.zeros_(block.conv_block[-2].weight)
    nn.init.zeros_(block.conv_block[-2].bias)
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize(("num_downs", "n_dropout"), [(5, 0), (7, 2), (8, 3)])
def test_unet_size_multiple_and_dropout_levels(num_downs, n_dropout):
    with torch.device("meta"):
        net = UnetGenerator(num_downs=num_downs, ngf=8)
        assert net.size_multiple == 2**num_downs
        assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == n_dropout
        assert not any(isinstance(m, nn.Dropout) for m in UnetGenerator(num_downs=num_downs, ngf=8, use_dropout=False).modules())


def test_unet_rejects_too_few_levels():
    with pytest.raises(ValueError, match="num_downs"):
        UnetGenerator(num_downs=4)


def test_unet_eval_is_deterministic_and_train_dropout_is_not():
    net = UnetGenerator(num_downs=6, ngf=8)
    x = torch.randn(2, 3, 64, 64)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.allclose(net(x), net(x))


def test_state_dict_keys_follow_the_original_layout():
    with torch.device("meta"):
        resnet = ResnetGenerator(norm="batch").state_dict()
        unet = UnetGenerator().state_dict()
    # batch norm: no conv bias; block 0 sits after stem (4 layers) and downsampling (6 layers)
    assert "model.1.weight" in resnet and "model.1.bias" not in resnet
    assert "model.10.conv_block.1.weight" in resnet and "model.10.conv_block.6.weight" in resnet
    assert "model.26.weight" in resnet and "model.26.bias" in resnet
    assert "model.model.0.weight" in unet and "model.model.0.bias" not in unet
    assert "model.model.3.bias" in unet  # outermost upconv keeps its bias
    assert "model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.model.1.weight" in unet
