"""AsymGAN's networks (i2i_zoo.nets.asymgan): z's shapes, each injection makes F's output depend on
z, conditional instance norm by hand, D_Z's forms."""

import pytest
import torch

from i2i_zoo.nets.asymgan import AuxiliaryEncoder, AuxiliaryGenerator, ConditionalInstanceNorm, LatentDiscriminator

NGF = 4


@pytest.mark.parametrize("z_map, shape", [(True, (2, 8, 4, 6)), (False, (2, 8))])
def test_encoder_gives_a_map_at_an_eighth_or_its_average(z_map, shape):
    torch.manual_seed(0)
    E = AuxiliaryEncoder(ngf=NGF, z_map=z_map)
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    z = E(x)
    assert z.shape == shape
    if not z_map:
        E.z_map = True
        assert torch.allclose(z, E(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("injection", ["concat", "decoder_concat", "cin"])
def test_every_injection_makes_f_depend_on_z(injection):
    torch.manual_seed(0)
    F = AuxiliaryGenerator(ngf=NGF, z_injection=injection).eval()
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    shape = (2, 8, 4, 4) if injection == "concat" else (2, 8)
    z1, z2 = torch.randn(shape), torch.randn(shape)
    with torch.no_grad():
        out1, out2 = F(y, z1), F(y, z2)
    assert out1.shape == (2, 3, 32, 32)
    assert (out1 - out2).abs().mean() > 1e-3
    with pytest.raises(ValueError, match=rf"z_injection={injection} takes z of shape"):
        F(y, torch.randn(2, 7))


def test_conditional_instance_norm_by_hand():
    norm = ConditionalInstanceNorm(2, 1)
    with torch.no_grad():
        norm.gain.weight.fill_(1.0), norm.gain.bias.zero_(), norm.bias.weight.fill_(2.0), norm.bias.bias.zero_()
    x = torch.tensor([[[[1.0, 3.0]], [[0.0, 4.0]]]])  # channel means 2 and 2, variances 1 and 4
    z = torch.tensor([[0.5]])
    # normalised: [-1, 1] in both channels (up to eps); * (1 + 0.5) + 2 * 0.5
    expected = torch.tensor([[[[-0.5, 2.5]], [[-0.5, 2.5]]]])
    assert torch.allclose(norm(x, z), expected, atol=1e-4)


def test_the_latent_discriminator_judges_maps_by_patches_and_vectors_by_mlp():
    assert LatentDiscriminator(z_map=True, ndf=8)(torch.randn(2, 8, 16, 16)).shape == (2, 1, 6, 6)
    assert LatentDiscriminator(z_map=False, hidden=16)(torch.randn(5, 8)).shape == (5, 1)


def test_z_vectors_depend_on_the_image_and_f_keeps_them_past_its_decoder():
    """The choices that make z usable: E's average of layer-normed features differs between images
    (instance norm fixes every channel's mean), and after CIN F's upsampling is layer-normed."""
    from i2i_zoo.nets import init_weights

    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    spread = {}
    for norm in ("instance", "layer"):
        E = init_weights(AuxiliaryEncoder(ngf=NGF, norm=norm), "normal", 0.02)
        with torch.no_grad():
            z = E(x)
        spread[norm] = (z.std(0).mean() / z.abs().mean()).item()  # across images, relative to z's scale
    assert AuxiliaryEncoder(ngf=NGF).model[2].__class__ is torch.nn.GroupNorm  # a z vector: layer norm
    assert spread["layer"] > 2 * spread["instance"], spread
    F = AuxiliaryGenerator(ngf=NGF, z_injection="cin")
    assert all(isinstance(up[1], torch.nn.GroupNorm) for up in F.up)
    assert all(isinstance(up[1], torch.nn.InstanceNorm2d) for up in AuxiliaryGenerator(ngf=NGF, z_injection="concat").up)


def test_reset_z_layers_restores_the_default_init_of_what_reads_z():
    from i2i_zoo.nets import init_weights

    torch.manual_seed(0)
    for injection in ("cin", "concat"):
        F = init_weights(AuxiliaryGenerator(ngf=NGF, z_injection=injection), "normal", 0.02)
        reading_z = [m.gain.weight for m in F.modules() if isinstance(m, ConditionalInstanceNorm)] or [F.fuse.weight]
        assert all(w.std() < 0.03 for w in reading_z)
        F.reset_z_layers()
        # PyTorch's default: uniform within 1/sqrt(fan_in), std 1/sqrt(3 fan_in).
        for w in reading_z:
            fan_in = w[0].numel()
            assert abs(w.std().item() - (3 * fan_in) ** -0.5) < 0.5 * (3 * fan_in) ** -0.5
