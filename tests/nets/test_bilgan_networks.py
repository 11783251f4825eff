"""BiL-GAN's networks: D lines up with T on downsampled images, D's channel cap, D^uv's output, and
G = G1 + G2 starting from G1's upsampled translation."""

import torch
import torch.nn.functional as F
from torch import nn

from i2i_zoo.nets import SRResNet, StarGANDiscriminator, StarGANGenerator
from i2i_zoo.nets.bilgan import HighResolutionTranslator, LowResolutionTranslator, UVRegressor, downsample


def test_d_has_log2_scale_more_layers_capped_and_its_map_lines_up_with_ts():
    T = StarGANDiscriminator(16, 3, 4, conv_dim=8, repeat_num=3)
    D = StarGANDiscriminator(64, 3, 4, conv_dim=8, repeat_num=5, max_channels=32)  # scale 4: 2 more layers
    x = torch.rand(2, 3, 64, 64)
    assert D(x)[0].shape == T(downsample(x, 4))[0].shape == (2, 1, 2, 2)
    widths = [m.out_channels for m in D.main if isinstance(m, nn.Conv2d)]
    assert widths == [8, 16, 32, 32, 32]
    uncapped = StarGANDiscriminator(64, 3, 4, conv_dim=8, repeat_num=5)
    assert [m.out_channels for m in uncapped.main if isinstance(m, nn.Conv2d)] == [8, 16, 32, 64, 128]


def test_downsample_is_the_block_mean():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(downsample(x, 2), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))


def test_uv_regressor_predicts_a_map_at_its_stride():
    D_uv = UVRegressor(3, 3, conv_dim=4, repeat_num=2)
    assert D_uv(torch.rand(2, 3, 16, 16)).shape == D_uv.target(torch.rand(2, 3, 16, 16)).shape == (2, 3, 4, 4)


def test_g_starts_as_g1_upsampled_and_g2_adds_its_residual():
    torch.manual_seed(0)
    G1, G2 = StarGANGenerator(3, 4, 8, 1), SRResNet(3, 3, 2, 8, 1, norm="none")
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.eye(4)[:2]
    low = LowResolutionTranslator(G1, 2)(x, c)
    assert low.shape == (2, 3, 16, 16)
    torch.testing.assert_close(low, G1(F.avg_pool2d(x, 2), c))
    nn.init.zeros_(G2.tail[0].weight)
    nn.init.zeros_(G2.tail[0].bias)
    G = HighResolutionTranslator(G1, G2, 2)
    torch.testing.assert_close(G(x, c), F.interpolate(low, scale_factor=2, mode="bilinear").clamp(-1, 1))
    nn.init.normal_(G2.tail[0].weight, std=0.1)
    assert not torch.allclose(G(x, c), F.interpolate(low, scale_factor=2, mode="bilinear"))
