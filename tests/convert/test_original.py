"""Importing the original pix2pix/CycleGAN networks: architecture inference, exact outputs, the
discriminator name swap, the way back, errors. The original-layout files are written here from
our networks (whose keys are the original's), small, with the original's quirks added."""

from pathlib import Path

import pytest
import torch
from torch import nn

from i2i_zoo.convert import (
    infer_discriminator_config,
    infer_generator_config,
    load_original_cyclegan,
    load_original_discriminator,
    load_original_generator,
    load_original_pix2pix,
    read_state_dict,
    save_original,
    to_original_state_dicts,
)
from i2i_zoo.methods import CycleGAN, Pix2Pix
from i2i_zoo.nets import PatchGANDiscriminator, ResnetGenerator, UnetGenerator, init_weights


def _trained_like(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and non-trivial batch-norm statistics, so a wrong mapping shows."""
    torch.manual_seed(seed)
    init_weights(net, "normal", 0.2)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.num_batches_tracked.fill_(7)
    return net.eval()


def _save(state: dict, path: Path, **kwargs) -> Path:
    torch.save(state, path, **kwargs)
    return path


def _image(channels: int = 3, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("n_blocks", "norm", "use_dropout"),
                         [(6, "instance", False), (9, "instance", True), (6, "batch", True), (9, "batch", False)])
def test_resnet_architecture_is_read_off_the_keys(tmp_path, n_blocks, norm, use_dropout):
    source = _trained_like(ResnetGenerator(3, 1, ngf=8, n_blocks=n_blocks, norm=norm, use_dropout=use_dropout))
    assert infer_generator_config(source.state_dict()) == {
        "architecture": "resnet", "in_channels": 3, "out_channels": 1, "ngf": 8,
        "n_blocks": n_blocks, "norm": norm, "use_dropout": use_dropout,
    }
    loaded = load_original_generator(_save(source.state_dict(), tmp_path / "latest_net_G.pth"))
    assert isinstance(loaded, ResnetGenerator) and not loaded.training
    _same_outputs(loaded, source, _image(size=16))


@pytest.mark.parametrize("num_downs", [5, 7])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_architecture_is_read_off_the_keys(tmp_path, num_downs, norm):
    source = _trained_like(UnetGenerator(1, 3, num_downs=num_downs, ngf=4, norm=norm))
    assert infer_generator_config(source.state_dict()) == {
        "architecture": "unet", "in_channels": 1, "out_channels": 3, "ngf": 4, "num_downs": num_downs, "norm": norm,
    }
    loaded = load_original_generator(_save(source.state_dict(), tmp_path / "latest_net_G.pth"))
    assert isinstance(loaded, UnetGenerator)
    _same_outputs(loaded, source, _image(1, size=2**num_downs))


def test_pre_0_4_instance_norm_statistics_are_dropped(tmp_path):
    """Files written before PyTorch 0.4 keep running statistics in InstanceNorm2d, which the
    original's loader deletes; they come in the legacy (non-zip) serialization."""
    source = _trained_like(ResnetGenerator(3, 3, ngf=8, n_blocks=6))
    state = source.state_dict()
    norms = [name for name, m in source.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    for name in norms:
        channels = source.get_submodule(name).num_features
        state[f"{name}.running_mean"] = torch.randn(channels)
        state[f"{name}.running_var"] = torch.rand(channels) + 0.5
    assert len(norms) == 3 + 2 * 6 + 2
    path = _save(state, tmp_path / "latest_net_G.pth", _use_new_zipfile_serialization=False)
    assert infer_generator_config(read_state_dict(path))["norm"] == "instance"
    _same_outputs(load_original_generator(path), source, _image(size=16))


def test_pre_0_4_1_batch_norm_without_a_batch_count_loads(tmp_path):
    source = _trained_like(UnetGenerator(3, 3, num_downs=5, ngf=4))
    state = {k: v for k, v in source.state_dict().items() if not k.endswith(".num_batches_tracked")}
    _same_outputs(load_original_generator(_save(state, tmp_path / "G.pth")), source, _image())


def test_data_parallel_prefix_is_removed(tmp_path):
    source = _trained_like(UnetGenerator(3, 3, num_downs=5, ngf=4))
    path = _save({f"module.{k}": v for k, v in source.state_dict().items()}, tmp_path / "G.pth")
    _same_outputs(load_original_generator(path), source, _image())


@pytest.mark.parametrize("n_layers", [1, 3])
def test_patchgan_architecture_is_read_off_the_keys(tmp_path, n_layers):
    source = _trained_like(PatchGANDiscriminator(6, ndf=4, n_layers=n_layers, norm="batch"))
    assert infer_discriminator_config(source.state_dict()) == {"in_channels": 6, "ndf": 4, "n_layers": n_layers, "norm": "batch"}
    _same_outputs(load_original_discriminator(_save(source.state_dict(), tmp_path / "D.pth")), source, _image(6))


def test_pix2pix_gets_its_generator_and_discriminator(tmp_path):
    g = _trained_like(UnetGenerator(1, 3, num_downs=5, ngf=4), seed=1)
    d = _trained_like(PatchGANDiscriminator(4, ndf=4, n_layers=2), seed=2)
    model = load_original_pix2pix(_save(g.state_dict(), tmp_path / "G.pth"), _save(d.state_dict(), tmp_path / "D.pth"),
                                  inference_mode="eval")
    hp = model.hparams
    assert (hp.channels_A, hp.channels_B, hp.ngf, hp.num_downs, hp.ndf, hp.n_layers_D, hp.norm) == (1, 3, 4, 5, 4, 2, "batch")
    x = _image(1)
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x), g(x), rtol=0, atol=1e-6)
    _same_outputs(model.D, d, _image(4))

    # The file does not say which domain was the input: BtoA reads it as B -> A.
    flipped = load_original_pix2pix(tmp_path / "G.pth", direction="BtoA")
    assert (flipped.hparams.channels_A, flipped.hparams.channels_B) == (3, 1)


def test_pix2pix_rejects_mismatched_files_and_overrides(tmp_path):
    g = _save(UnetGenerator(3, 3, num_downs=5, ngf=4).state_dict(), tmp_path / "G.pth")
    d = _save(PatchGANDiscriminator(3, ndf=4).state_dict(), tmp_path / "D.pth")
    with pytest.raises(ValueError, match=r"D.pth judges 3-channel inputs, but .*G.pth's \(input, output\) pairs have 6"):
        load_original_pix2pix(g, d)
    with pytest.raises(ValueError, match=r"ngf=8 contradicts .*G.pth, which has ngf=4"):
        load_original_pix2pix(g, ngf=8)
    resnet = _save(ResnetGenerator(3, 3, ngf=4, n_blocks=6).state_dict(), tmp_path / "R.pth")
    with pytest.raises(ValueError, match="R.pth holds a ResNet generator; .*Pix2Pix builds a U-Net"):
        load_original_pix2pix(resnet)


def test_cyclegan_maps_the_original_names_with_the_discriminator_swap(tmp_path):
    """The original's G_A (A -> B) is G, G_B is F; its D_A judges B (it trains G_A): our D_B."""
    g_a = _trained_like(ResnetGenerator(1, 3, ngf=4, n_blocks=6), seed=1)
    g_b = _trained_like(ResnetGenerator(3, 1, ngf=4, n_blocks=6), seed=2)
    d_a = _trained_like(PatchGANDiscriminator(3, ndf=4, norm="instance"), seed=3)  # judges B (3 channels)
    d_b = _trained_like(PatchGANDiscriminator(1, ndf=4, norm="instance"), seed=4)  # judges A (1 channel)
    paths = [_save(net.state_dict(), tmp_path / f"latest_net_{name}.pth")
             for name, net in (("G_A", g_a), ("G_B", g_b), ("D_A", d_a), ("D_B", d_b))]
    model = load_original_cyclegan(*paths)
    hp = model.hparams
    assert (hp.channels_A, hp.channels_B, hp.generator, hp.ngf, hp.ndf, hp.norm) == (1, 3, "resnet_6blocks", 4, 4, "instance")
    assert hp.lambda_identity == 0  # the identity term needs equal channels
    _same_outputs(model.G, g_a, _image(1, size=16))
    _same_outputs(model.F, g_b, _image(3, size=16))
    _same_outputs(model.D_B, d_a, _image(3))
    _same_outputs(model.D_A, d_b, _image(1))
    with torch.no_grad():
        torch.testing.assert_close(model.translate(_image(3, size=16), "BtoA"), g_b(_image(3, size=16)), rtol=0, atol=1e-6)

    # Swapped discriminator files judge the wrong domain's channels.
    with pytest.raises(ValueError, match=r"latest_net_D_A.pth judges 3-channel images, but domain A has 1 \(.*latest_net_G_B.pth\); the original's D_A judges domain B"):
        load_original_cyclegan(paths[0], paths[1], paths[3], paths[2])


def test_cyclegan_from_one_published_generator_warns_about_the_rest(tmp_path):
    g = _trained_like(ResnetGenerator(3, 3, ngf=4, n_blocks=9, use_dropout=True))
    path = _save(g.state_dict(), tmp_path / "latest_net_G.pth")
    with pytest.warns(UserWarning, match=r"F \(the original's G_B\), D_B \(the original's D_A\), D_A .* translate only AtoB"):
        model = load_original_cyclegan(path)
    assert model.hparams.direction == "AtoB" and model.hparams.use_dropout and model.hparams.generator == "resnet_9blocks"
    _same_outputs(model.G, g, _image(size=16))
    with pytest.warns(UserWarning, match="translate only BtoA"):
        assert load_original_cyclegan(None, path).hparams.direction == "BtoA"
    with pytest.raises(ValueError, match="at least one generator"):
        load_original_cyclegan(None)
    odd = _save(ResnetGenerator(3, 3, ngf=4, n_blocks=2).state_dict(), tmp_path / "odd.pth")
    with pytest.raises(ValueError, match="odd.pth holds a resnet generator of an unusual depth"):
        load_original_cyclegan(odd)


def test_round_trip_through_the_original_layout_keeps_outputs(tmp_path):
    ours = _trained_like(Pix2Pix(ngf=4, ndf=4, num_downs=5, inference_mode="eval"))
    states = to_original_state_dicts(ours)
    assert set(states) == {"G", "D"}
    back = load_original_pix2pix(_save(states["G"], tmp_path / "G.pth"), _save(states["D"], tmp_path / "D.pth"),
                                 inference_mode="eval")
    x = _image()
    with torch.no_grad():
        torch.testing.assert_close(back.translate(x), ours.translate(x), rtol=0, atol=0)
    _same_outputs(back.D, ours.D, _image(6))

    cycle = _trained_like(CycleGAN(channels_A=1, ngf=4, ndf=4, generator="resnet_6blocks", lambda_identity=0))
    files = save_original(cycle, tmp_path / "cyclegan", epoch="200")
    assert sorted(p.name for p in files) == ["200_net_D_A.pth", "200_net_D_B.pth", "200_net_G_A.pth", "200_net_G_B.pth"]
    assert to_original_state_dicts(cycle)["D_A"].keys() == cycle.D_B.state_dict().keys()
    back = load_original_cyclegan(*(tmp_path / "cyclegan" / f"200_net_{n}.pth" for n in ("G_A", "G_B", "D_A", "D_B")))
    for name, channels in (("G", 1), ("F", 3), ("D_A", 1), ("D_B", 3)):
        _same_outputs(getattr(back, name), getattr(cycle, name), _image(channels))


def test_norm_none_has_no_original_counterpart(tmp_path):
    with pytest.raises(ValueError, match="norm 'none'"):
        to_original_state_dicts(Pix2Pix(ngf=4, ndf=4, num_downs=5, norm="none"))
    # The original's --norm none: convolutions without bias, no norm layers.
    state = {k: v for k, v in ResnetGenerator(3, 3, ngf=4, n_blocks=6, norm="none").state_dict().items() if not k.endswith(".bias")}
    with pytest.raises(ValueError, match="G.pth: .*the original's --norm none"):
        load_original_generator(_save(state, tmp_path / "G.pth"))


def test_clear_errors_for_files_that_are_not_original_generators(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth does not exist"):
        load_original_generator(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth is not a readable PyTorch file"):
        load_original_generator(tmp_path / "junk.pth")
    lightning_like = _save({"state_dict": {}, "epoch": 3}, tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match="last.ckpt holds a dict, not a network's state dict.*--ckpt_path"):
        load_original_generator(lightning_like)
    discriminator = _save(PatchGANDiscriminator(3, ndf=4).state_dict(), tmp_path / "D.pth")
    with pytest.raises(ValueError, match="D.pth: not a generator of the original code \\(it looks like a discriminator\\)"):
        load_original_generator(discriminator)
    other = _save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth: not a generator .*found fc.weight"):
        load_original_generator(other)
    generator = _save(UnetGenerator(3, 3, num_downs=5, ngf=4).state_dict(), tmp_path / "G.pth")
    with pytest.raises(ValueError, match="G.pth: not a PatchGAN discriminator .*found none"):
        load_original_discriminator(generator)
    resnet = _save(ResnetGenerator(3, 3, ngf=4, n_blocks=6).state_dict(), tmp_path / "R.pth")
    with pytest.raises(ValueError, match="R.pth: not a PatchGAN discriminator .*found model.1, model.4, model.7, "):
        load_original_discriminator(resnet)
    pixel = _save({"net.0.weight": torch.zeros(4, 3, 1, 1)}, tmp_path / "pixel.pth")
    with pytest.raises(ValueError, match="pixel.pth: not a PatchGAN discriminator .*found none"):
        load_original_discriminator(pixel)
    # Keys that fit the inferred architecture nowhere: a truncated file.
    state = UnetGenerator(3, 3, num_downs=5, ngf=4).state_dict()
    del state["model.model.1.model.5.weight"]
    with pytest.raises(ValueError, match="truncated.pth does not fit the architecture inferred from its keys"):
        load_original_generator(_save(state, tmp_path / "truncated.pth"))
