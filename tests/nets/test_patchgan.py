import pytest
import torch
import torch.nn as nn

from i2i_zoo.nets import PatchGANDiscriminator


@pytest.mark.parametrize(
    ("in_ch", "norm", "expected"),
    [(6, "batch", 2_768_705), (3, "instance", 2_764_737)],
)
def test_parameter_counts_match_the_original(in_ch, norm, expected):
    with torch.device("meta"):
        net = PatchGANDiscriminator(in_ch, norm=norm)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_70x70_patchgan_gives_a_30x30_map_for_256px():
    net = PatchGANDiscriminator(1, ndf=8)
    assert net(torch.randn(1, 1, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize(("n_layers", "side"), [(1, 62), (2, 30), (3, 14), (4, 6)])
def test_map_size_per_depth(n_layers, side):
    # 128 px: each stride-2 conv halves, the stride-1 conv and the output conv each remove one pixel
    net = PatchGANDiscriminator(3, ndf=8, n_layers=n_layers, norm="instance")
    assert net(torch.randn(2, 3, 128, 128)).shape == (2, 1, side, side)


def test_channels_capped_at_8_ndf():
    with torch.device("meta"):
        net = PatchGANDiscriminator(ndf=4, n_layers=5)
    widths = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [4, 8, 16, 32, 32, 32, 1]


def test_outputs_raw_logits():
    net = PatchGANDiscriminator(3, ndf=8, norm="none")
    assert isinstance(net.model[-1], nn.Conv2d)
    nn.init.constant_(net.model[-1].bias, 5.0)
    assert net(torch.randn(1, 3, 64, 64)).min() > 1
