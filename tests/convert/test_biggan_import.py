"""Import of BigGAN-PyTorch's `G.pth` / `G_ema.pth` / `D.pth`, on the files the reference wrote for
tests/nets/test_biggan_networks.py (tests/fixtures/biggan/, made as its docstring says): the configuration is
read off the shapes, the networks reproduce the reference's outputs, and every other kind of file
is refused with a ValueError naming it."""

from pathlib import Path

import pytest
import torch

from i2i_zoo.convert import infer_biggan_discriminator_config, infer_biggan_generator_config, load_biggan_pytorch
from i2i_zoo.nets import ResnetGenerator
from i2i_zoo.nets.biggan import BigGANGenerator

FIXTURE = Path(__file__).parents[1] / "fixtures" / "biggan"
G_FILE, D_FILE = FIXTURE / "G.pth", FIXTURE / "D.pth"


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_configuration_is_read_off_the_shapes():
    assert infer_biggan_generator_config(_load(G_FILE)) == {
        "resolution": 64, "ch": 2, "dim_z": 20, "shared_dim": 8, "hier": True, "n_classes": 5,
        "attention": (32,), "shared": True, "num_svs": 1,
    }  # fmt: skip
    assert infer_biggan_discriminator_config(_load(D_FILE)) == {
        "resolution": 64, "ch": 2, "n_classes": 5, "attention": (8,), "wide": True, "num_svs": 1,
    }  # fmt: skip


def test_imported_networks_reproduce_the_reference():
    reference = _load(FIXTURE / "reference_outputs.pth")
    G, D = load_biggan_pytorch(G_FILE, D_FILE)
    assert not G.training and not D.training
    with torch.no_grad():
        torch.testing.assert_close(G(reference["z"], reference["y"]), reference["G_eval"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(D(reference["G_eval"], reference["y"]), reference["D_eval"], atol=1e-5, rtol=1e-5)
    assert load_biggan_pytorch(G_FILE)[1] is None


@pytest.mark.parametrize("config", [
    {"resolution": 32, "ch": 2, "dim_z": 12, "shared_dim": 4, "hier": True, "n_classes": 3, "attention": (16,)},
    {"resolution": 128, "ch": 4, "dim_z": 12, "shared_dim": 0, "hier": False, "n_classes": 2, "attention": (64,)},
    {"resolution": 32, "ch": 2, "dim_z": 6, "hier": False, "shared": False, "n_classes": 3, "attention": ()},
])  # fmt: skip
def test_other_configurations_round_trip(tmp_path, config):
    G = BigGANGenerator(**config, skip_init=True)
    torch.save(G.state_dict(), tmp_path / "G.pth")
    inferred = infer_biggan_generator_config(_load(tmp_path / "G.pth"))
    assert {key: inferred[key] for key in ("resolution", "ch", "dim_z", "hier", "n_classes", "attention")} == {
        "resolution": G.resolution, "ch": G.ch, "dim_z": G.dim_z, "hier": G.hier, "n_classes": G.n_classes,
        "attention": G.attention,
    }  # fmt: skip
    loaded, _ = load_biggan_pytorch(tmp_path / "G.pth")
    assert all(torch.equal(value, G.state_dict()[key]) for key, value in loaded.state_dict().items())


def test_a_file_without_sv0_loads(tmp_path):
    # as TFHub/converter.py writes them: no sv<i> (logging only); the TFHub models' epsilons, 1e-4
    state = {key: value for key, value in _load(G_FILE).items() if ".sv" not in key}
    torch.save(state, tmp_path / "G_ema.pth")
    G, _ = load_biggan_pytorch(tmp_path / "G_ema.pth")
    assert torch.equal(G.linear.sv0, torch.ones(1))
    assert torch.equal(G.linear.u0, state["linear.u0"])
    assert G.linear.sn_eps == 1e-4 and G.blocks[0][0].bn1.eps == 1e-4
    G, _ = load_biggan_pytorch(G_FILE)
    assert G.linear.sn_eps == 1e-6 and G.blocks[0][0].bn1.eps == 1e-5


def test_an_optimizer_file_is_refused(tmp_path):
    G, _ = load_biggan_pytorch(G_FILE)
    optimizer = torch.optim.Adam(G.parameters())
    for p in G.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()  # an Adam state per parameter, as in a trained run's G_optim.pth
    torch.save(optimizer.state_dict(), tmp_path / "G_optim.pth")
    with pytest.raises(ValueError, match=r"G_optim\.pth.*generator weights"):
        load_biggan_pytorch(tmp_path / "G_optim.pth")


def test_state_dict_pth_is_refused(tmp_path):
    # BigGAN-PyTorch's state_dict.pth: counters and the run's configuration, with pickled objects
    torch.save({"itr": 1000, "epoch": 2, "config": {"G_activation": torch.nn.ReLU()}}, tmp_path / "state_dict.pth")
    with pytest.raises(ValueError, match=r"state_dict\.pth.*not a readable PyTorch file"):
        load_biggan_pytorch(tmp_path / "state_dict.pth")


def test_a_truncated_file_is_refused(tmp_path):
    (tmp_path / "G.pth").write_bytes(G_FILE.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"G\.pth.*generator weights"):
        load_biggan_pytorch(tmp_path / "G.pth")


def test_another_architecture_is_refused(tmp_path):
    torch.save(ResnetGenerator(ngf=4, n_blocks=1).state_dict(), tmp_path / "latest_net_G.pth")
    with pytest.raises(ValueError, match=r"latest_net_G\.pth: not a BigGAN-PyTorch generator"):
        load_biggan_pytorch(tmp_path / "latest_net_G.pth")
    with pytest.raises(ValueError, match=r"latest_net_G\.pth: not a BigGAN-PyTorch discriminator"):
        load_biggan_pytorch(G_FILE, tmp_path / "latest_net_G.pth")


def test_swapped_mismatched_and_altered_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="looks like a BigGAN discriminator"):
        load_biggan_pytorch(D_FILE)
    with pytest.raises(ValueError, match="looks like a BigGAN generator"):
        load_biggan_pytorch(G_FILE, G_FILE)
    other = BigGANGenerator(64, ch=2, dim_z=20, shared_dim=8, n_classes=7, attention=(32,), skip_init=True)
    torch.save(other.state_dict(), tmp_path / "G.pth")
    with pytest.raises(ValueError, match=r"n_classes=5.*different models"):
        load_biggan_pytorch(tmp_path / "G.pth", D_FILE)
    state = _load(G_FILE)
    del state["blocks.1.0.conv2.weight"]
    torch.save(state, tmp_path / "G_cut.pth")
    with pytest.raises(ValueError, match=r"(?s)G_cut\.pth does not fit.*conv2\.weight"):
        load_biggan_pytorch(tmp_path / "G_cut.pth")
    with pytest.raises(FileNotFoundError, match="G_missing.pth"):
        load_biggan_pytorch(tmp_path / "G_missing.pth")


def test_convert_command_writes_a_checkpoint_that_predicts_samples_per_class(tmp_path, monkeypatch, capsys):
    from i2i_zoo.cli import run
    from i2i_zoo.convert.checkpoint import load_checkpoint

    monkeypatch.setattr("sys.argv", ["i2i-zoo"])  # LightningCLI warns about pytest's own arguments
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "biggan.ckpt"
    names = ["a", "b", "c", "d", "e"]
    run(["convert", "biggan", "--G", str(G_FILE), "--D", str(D_FILE), "--domains", *names, "--samples_per_class", "2", "--output", str(output)])
    assert f"{output}: BigGAN(" in capsys.readouterr().out
    model = load_checkpoint(output).eval()
    reference, _ = load_biggan_pytorch(G_FILE)
    z, y = torch.randn(3, reference.dim_z, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 2, 4])
    with torch.no_grad():
        assert torch.equal(model.generate(y, z), reference(z, y))  # G_ema is G's copy without --G_ema
    run(["predict", "--ckpt_path", str(output), "--output_dir", str(tmp_path / "samples"), "--trainer.enable_progress_bar", "false"])
    written = sorted(str(p.relative_to(tmp_path / "samples")) for p in (tmp_path / "samples").rglob("*.png"))
    assert [name.split("/")[0] for name in written] == [n for n in names for _ in range(2)]
