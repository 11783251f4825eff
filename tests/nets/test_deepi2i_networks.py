"""DeepI2I's encoder taps and adaptors (i2i_zoo.nets.deepi2i) on small BigGAN networks."""

import pytest
import torch

from i2i_zoo.nets.biggan import BigGANGenerator
from i2i_zoo.nets.deepi2i import Adaptors, BigGANEncoder, DeepI2ITranslator, tap_sides

CH = 4  # widths ch x (1, 2, 4, 8, 16)


@pytest.mark.parametrize(
    "resolution, taps",
    [
        # side -> encoder channels (D's block widths), generator channels (its hidden state's)
        (128, {32: (2 * CH, 4 * CH), 16: (4 * CH, 8 * CH), 8: (8 * CH, 16 * CH), 4: (16 * CH, 16 * CH)}),
        (64, {16: (2 * CH, 8 * CH), 8: (4 * CH, 16 * CH), 4: (16 * CH, 16 * CH)}),
        (32, {8: (4 * CH, 4 * CH)}),
    ],
)
def test_tap_and_adaptor_shapes(resolution, taps):
    torch.manual_seed(0)
    E = BigGANEncoder(resolution, CH, attention=())
    G = BigGANGenerator(resolution, CH, dim_z=12, shared_dim=8, n_classes=3, attention=())
    A = Adaptors(E.widths, {side: G.width_at(side) for side in E.sides})
    features = E(torch.rand(2, 3, resolution, resolution) * 2 - 1)
    assert tap_sides(resolution) == list(taps) == list(features)
    for side, (encoder_channels, generator_channels) in taps.items():
        assert features[side].shape == (2, encoder_channels, side, side)
        assert A(features)[side].shape == (2, generator_channels, side, side)


def test_the_deepest_tap_is_after_the_relu_and_the_others_before():
    torch.manual_seed(0)
    E = BigGANEncoder(128, CH, attention=()).eval()  # eval: spectral norm's vectors stay put between the runs
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    features = E(x)
    h = x
    for blocklist in E.blocks:  # by hand: the last block's output, before the ReLU
        for block in blocklist:
            h = block(h)
    assert (features[4] >= 0).all()
    assert torch.equal(features[4], torch.relu(h))
    assert (features[8] < 0).any()  # a block's output, not ReLU'd
    assert (h < 0).any()


def test_the_encoder_loads_a_discriminator_state_dict_and_has_no_head():
    from i2i_zoo.nets.biggan import BigGANDiscriminator

    D = BigGANDiscriminator(64, CH, n_classes=5, attention=(16,)).eval()
    E = BigGANEncoder(64, CH, attention=(16,), skip_init=True).eval()
    E.load_state_dict({k: v for k, v in D.state_dict().items() if k.startswith("blocks.")})
    head = sum(p.numel() for name, p in D.named_parameters() if not name.startswith("blocks."))
    assert sum(p.numel() for p in E.parameters()) == sum(p.numel() for p in D.parameters()) - head
    x = torch.rand(1, 3, 64, 64)
    _, d_features = D.forward_with_features(x, torch.tensor([1]), E.sides)
    assert all(torch.equal(d_features[s], f) for s, f in E(x).items())


def _translator(resolution: int, weights: dict[int, float]):
    torch.manual_seed(0)
    E = BigGANEncoder(resolution, CH, attention=())
    G = BigGANGenerator(resolution, CH, dim_z=12, shared_dim=8, n_classes=3, attention=()).eval()
    A = Adaptors(E.widths, {side: G.width_at(side) for side in E.sides})
    return DeepI2ITranslator(E, A, G, weights).eval()  # eval: spectral norm's vectors stay put between runs


def test_with_zero_adaptor_weights_the_generator_is_biggans_exactly():
    translator = _translator(64, {16: 0.0, 8: 0.0, 4: 0.0})
    x, y, z = torch.rand(3, 3, 64, 64) * 2 - 1, torch.tensor([0, 2, 1]), torch.randn(3, translator.G.dim_z)
    with torch.no_grad():
        assert torch.equal(translator(x, y, z), translator.G(z, y))


def test_an_adaptor_changes_the_generator_only_from_its_side_on():
    translator = _translator(64, {16: 0.1, 8: 0.1, 4: 0.1})
    x, y, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.tensor([0, 2]), torch.randn(2, translator.G.dim_z)

    def hidden_states() -> dict[int, torch.Tensor]:
        states = {}
        hooks = [block.register_forward_hook(lambda m, i, o, side=side: states.__setitem__(side, o))
                 for side, (*_, block) in zip(translator.G.sides, translator.G.blocks)]  # fmt: skip
        hooks.append(translator.G.output_layer.register_forward_hook(lambda m, i, o: states.__setitem__("out", o)))
        with torch.no_grad():
            translator(x, y, z)
        for hook in hooks:
            hook.remove()
        return states

    before = hidden_states()
    with torch.no_grad():
        translator.A.adaptors["8"].conv2.bias.add_(1.0)
    after = hidden_states()
    # The 8 x 8 addition comes after the block whose output is 8 x 8: that block's own output
    # (hooked before the addition) is unchanged, every later one changes.
    assert torch.equal(before[8], after[8])
    for side in (16, 32, 64, "out"):
        assert not torch.equal(before[side], after[side]), side
