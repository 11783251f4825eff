"""Import of the original StarGAN's `<iteration>-G.ckpt` / `-D.ckpt`: the original networks are
restated here with their `nn.Sequential` indices and key names, given random weights (and
running statistics, which the original's instance norms track but never use), saved, imported,
and run side by side: the original in train mode (as it always runs), ours in eval mode."""

from pathlib import Path

import pytest
import torch
from torch import nn

from i2i_zoo.cli import run
from i2i_zoo.convert import CELEBA_ATTRIBUTES, load_original_stargan
from i2i_zoo.data import read_image, to_tensor, write_image
from i2i_zoo.methods import StarGAN


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=True)


class OriginalResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), _norm(dim), nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), _norm(dim),
        )  # fmt: skip

    def forward(self, x):
        return x + self.main(x)


class OriginalGenerator(nn.Module):
    """yunjey/stargan model.py's Generator(conv_dim, c_dim, repeat_num)."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers = [nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False), _norm(conv_dim), nn.ReLU(inplace=True)]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _norm(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [OriginalResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), _norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        c = c.view(c.size(0), c.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class OriginalDiscriminator(nn.Module):
    """yunjey/stargan model.py's Discriminator(image_size, conv_dim, c_dim, repeat_num)."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, int(image_size / 2**repeat_num), bias=False)

    def forward(self, x):
        h = self.main(x)
        out_cls = self.conv2(h)
        return self.conv1(h), out_cls.view(out_cls.size(0), out_cls.size(1))


def _trained_like(net: nn.Module) -> nn.Module:
    """Default-initialised convolutions, random norm scales and shifts, and running statistics far
    from per-image ones (so using them would show)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.InstanceNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.3 * torch.randn_like(m.bias))
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(200000)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)
    return net


def _save(tmp_path: Path, g: nn.Module, d: nn.Module | None = None) -> tuple[Path, Path | None]:
    g_path = tmp_path / "200000-G.ckpt"
    torch.save(g.state_dict(), g_path)
    if d is None:
        return g_path, None
    d_path = tmp_path / "200000-D.ckpt"
    torch.save(d.state_dict(), d_path)
    return g_path, d_path


@pytest.mark.parametrize("image_size", [128, 256])
def test_imported_networks_reproduce_the_original(tmp_path, image_size):
    g = _trained_like(OriginalGenerator(conv_dim=4, c_dim=5, repeat_num=6)).train()
    d = _trained_like(OriginalDiscriminator(image_size, conv_dim=4, c_dim=5, repeat_num=6)).train()
    model = load_original_stargan(*_save(tmp_path, g, d))

    hp = model.hparams
    assert (hp.image_size, hp.g_conv_dim, hp.g_repeat_num, hp.d_conv_dim, hp.d_repeat_num) == (image_size, 4, 6, 4, 6)
    assert hp.domains == list(CELEBA_ATTRIBUTES) and hp.label_type == "attributes"
    assert not model.training
    torch.manual_seed(1)
    x = torch.rand(2, 3, image_size, image_size) * 2 - 1
    c = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 1]])
    with torch.no_grad():
        torch.testing.assert_close(model.G(x, c), g(x, c), rtol=1e-4, atol=1e-5)
        for ours, theirs in zip(model.D(x), d(x)):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        # The names address the same labels.
        torch.testing.assert_close(model.translate(x, ["Brown_Hair", "Young"]), g(x, c[1:].expand(2, -1)), rtol=1e-4, atol=1e-5)


def test_generator_alone_needs_the_image_size_and_names_domains(tmp_path):
    g = _trained_like(OriginalGenerator(conv_dim=4, c_dim=3, repeat_num=2))
    g_path, _ = _save(tmp_path, g)
    model = load_original_stargan(g_path)
    assert model.hparams.image_size == 128 and model.hparams.g_repeat_num == 2
    assert model.domains == ["domain_0", "domain_1", "domain_2"]
    model = load_original_stargan(g_path, domains=["calm", "happy", "sad"], label_type="exclusive", image_size=64)
    assert model.hparams.image_size == 64 and model.label_type == "exclusive"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x, "happy"), g.train()(x, torch.tensor([[0.0, 1, 0]])), rtol=1e-4, atol=1e-5)


def test_errors_name_the_problem(tmp_path):
    g_path, d_path = _save(tmp_path, OriginalGenerator(conv_dim=4, c_dim=5, repeat_num=1),
                           OriginalDiscriminator(128, conv_dim=4, c_dim=4, repeat_num=6))
    with pytest.raises(ValueError, match="classifies 4 domains, but .*200000-G.ckpt is conditioned on 5"):
        load_original_stargan(g_path, d_path)
    with pytest.raises(ValueError, match="looks like a StarGAN discriminator: pass it as the D file"):
        load_original_stargan(d_path)
    with pytest.raises(ValueError, match="looks like a StarGAN generator: pass it as the G file"):
        load_original_stargan(g_path, g_path)
    with pytest.raises(ValueError, match=r"2 domains given \(\['a', 'b'\]\), but .* conditioned on 5"):
        load_original_stargan(g_path, domains=["a", "b"])
    other = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(8, 3, 7, 7)}, other)
    with pytest.raises(ValueError, match="not a generator of the original StarGAN"):
        load_original_stargan(other)
    with pytest.raises(FileNotFoundError, match="missing-G.ckpt does not exist; expected the original StarGAN's generator"):
        load_original_stargan(tmp_path / "missing-G.ckpt")
    d_path = _save(tmp_path, OriginalGenerator(4, 5, 1), OriginalDiscriminator(128, 4, 5, 6))[1]
    with pytest.raises(ValueError, match="image_size=256 contradicts .*200000-D.ckpt, whose classification kernel makes it 128"):
        load_original_stargan(g_path, d_path, image_size=256)


def test_convert_command_writes_a_checkpoint_that_predicts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])  # LightningCLI warns about pytest's own arguments
    monkeypatch.chdir(tmp_path)
    g = _trained_like(OriginalGenerator(conv_dim=4, c_dim=5, repeat_num=1))
    g_path, d_path = _save(tmp_path, g, _trained_like(OriginalDiscriminator(128, conv_dim=4, c_dim=5, repeat_num=6)))
    output = tmp_path / "celeba.ckpt"
    run(["convert", "stargan", "--G", str(g_path), "--D", str(d_path), "--predict_target", "Blond_Hair", "--output", str(output)])
    assert f"{output}: StarGAN(domains=['Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male', 'Young']" in capsys.readouterr().out
    assert StarGAN.load_from_checkpoint(output, map_location="cpu").predict_target == "Blond_Hair"

    inputs = tmp_path / "faces"
    inputs.mkdir()
    image = torch.rand(3, 40, 52, generator=torch.Generator().manual_seed(0)) * 2 - 1
    write_image(inputs / "a.png", image)
    run([
        "predict", "--ckpt_path", str(output), "--data.predict_dir", str(inputs), "--data.num_workers", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=PredictionWriter",
        "--trainer.callbacks.output_dir", str(tmp_path / "blond"),
    ])
    # The command line chooses another target (an inference option); the architecture is the
    # checkpoint's, and another one on the command line is an error.
    with pytest.raises(ValueError, match="g_conv_dim=8 differs from the checkpoint's g_conv_dim=4"):
        run(["predict", "--ckpt_path", str(output), "--data.predict_dir", str(inputs), "--model.init_args.g_conv_dim", "8"])
    run([
        "predict", "--ckpt_path", str(output), "--data.predict_dir", str(inputs), "--data.num_workers", "0",
        "--model.init_args.predict_target", "Male",
        "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=PredictionWriter",
        "--trainer.callbacks.output_dir", str(tmp_path / "male"),
    ])
    x = to_tensor(read_image(inputs / "a.png"))[None]
    for folder, labels in (("blond", [0.0, 1, 0, 0, 0]), ("male", [0.0, 0, 0, 1, 0])):
        with torch.no_grad():
            write_image(tmp_path / "expected.png", g.train()(x, torch.tensor([labels]))[0])
        difference = read_image(tmp_path / folder / "a.png") - read_image(tmp_path / "expected.png")
        assert abs(difference).max() <= 1.01 / 255  # one 8-bit step
