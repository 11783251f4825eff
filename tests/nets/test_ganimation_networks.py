"""GANimation's generator: StarGAN's trunk with a colour head and an attention head, and the
composition of the two with the input."""

import pytest
import torch

from i2i_zoo.nets.ganimation import GANimationGenerator, GANimationTranslator, compose
from i2i_zoo.nets.stargan import StarGANGenerator


def test_heads_give_a_colour_image_and_a_one_channel_mask():
    torch.manual_seed(0)
    net = GANimationGenerator(c_dim=2, conv_dim=8, repeat_num=1)
    x, c = torch.rand(3, 3, 16, 20) * 2 - 1, torch.rand(3, 2)
    colour, attention = net(x, c)
    assert colour.shape == (3, 3, 16, 20) and attention.shape == (3, 1, 16, 20)
    assert colour.abs().max() <= 1 and 0 <= attention.min() and attention.max() <= 1
    assert net.trunk.main[0].in_channels == 3 + 2  # the conditions are tiled onto the image
    for head, channels in ((net.colour[0], 3), (net.attention[0], 1)):
        assert head.kernel_size == (7, 7) and head.out_channels == channels and head.bias is None
    assert not torch.allclose(net(x, c + 1)[0], colour)  # the conditions matter


def test_parameters_are_stargans_plus_the_attention_head():
    """The original's generator: the StarGAN generator (17 conditions) and a 64 -> 1 7x7 conv."""
    ours = sum(p.numel() for p in GANimationGenerator(c_dim=17).parameters())
    stargan = sum(p.numel() for p in StarGANGenerator(c_dim=17).parameters())
    assert ours == stargan + 64 * 7 * 7


def test_composition_keeps_the_input_where_attention_is_one_and_takes_the_colour_where_zero():
    torch.manual_seed(0)
    x, colour = torch.rand(2, 3, 4, 4) * 2 - 1, torch.rand(2, 3, 4, 4) * 2 - 1
    assert torch.equal(compose(x, colour, torch.ones(2, 1, 4, 4)), x)
    assert torch.equal(compose(x, colour, torch.zeros(2, 1, 4, 4)), colour)
    half = compose(x, colour, torch.full((2, 1, 4, 4), 0.25))
    assert torch.allclose(half, 0.25 * x + 0.75 * colour)


def test_translator_fixes_the_target_for_any_batch():
    torch.manual_seed(0)
    net = GANimationGenerator(c_dim=2, conv_dim=8, repeat_num=1)
    target = torch.tensor([0.2, 0.9])
    translator = GANimationTranslator(net, target)
    assert (translator.in_channels, translator.out_channels, translator.size_multiple) == (3, 3, 4)
    for n in (1, 3):
        x = torch.rand(n, 3, 8, 8) * 2 - 1
        colour, attention = net(x, target.expand(n, -1))
        assert torch.allclose(translator(x), compose(x, colour, attention))
    with pytest.raises(ValueError, match="target must hold 2 conditions"):
        GANimationTranslator(net, torch.zeros(3))
