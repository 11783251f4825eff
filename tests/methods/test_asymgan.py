"""AsymGAN's objective term by term against hand computations from its own networks, the two
variants, the VGG terms' weights handling, translate / interpolate / predict / export with z."""

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.callbacks import read_checkpoint
from i2i_zoo.export import export_generator_file
from i2i_zoo.losses import PerceptualLoss
from i2i_zoo.methods import METHODS, AsymGAN

TINY = dict(rich_domain="B", image_size=32, ngf=4, ndf=4, pool_size=0, lambda7=0.0, lambda8=0.0)


def images(n: int, side: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def lsgan_g(scores: torch.Tensor) -> torch.Tensor:
    return ((scores - 1) ** 2).mean()


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ((real - 1) ** 2).mean() + (fake**2).mean()


def squared_tv(image: torch.Tensor) -> torch.Tensor:
    """Mean squared horizontal plus mean squared vertical neighbour differences."""
    return ((image[..., :, 1:] - image[..., :, :-1]) ** 2).mean() + ((image[..., 1:, :] - image[..., :-1, :]) ** 2).mean()


class TinyFeatures(nn.Module):
    """A feature extractor standing in for the VGG: two named maps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, stride=2, padding=1)

    def forward(self, x):
        first = torch.relu(self.conv1(x))
        return {"relu1_2": first, "relu2_2": torch.relu(self.conv2(first))}


def gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


@pytest.fixture
def batch():
    return images(2, seed=1), images(2, seed=2)  # x, y


def model_with(**options) -> AsymGAN:
    torch.manual_seed(0)
    return AsymGAN(**{**TINY, **options})


def test_every_generator_term_matches_a_hand_computation(batch):
    weights = dict(lambda1=0.5, lambda2=2.0, lambda3=3.0, lambda4=4.0, lambda5=5.0, lambda6=6.0, lambda7=7.0, lambda8=8.0, lambda9=9.0)
    model = model_with(**weights, content_layer="relu2_2", style_layers=["relu1_2", "relu2_2"])
    extractor = TinyFeatures()
    model.perceptual = PerceptualLoss(extractor, ["relu2_2"], ["relu1_2", "relu2_2"])
    x, y = batch
    z, z_other = model.sample_z(y), model.sample_z(y)
    terms, _ = model.generator_terms(x, y, z, z_other)

    with torch.no_grad():
        G, E, F_, D_X, D_Y, D_Z = model.G, model.E, model.F, model.D_X, model.D_Y, model.D_Z
        fake_y, code, fake_x = G(x), E(x), F_(y, z)
        from_g, with_code = F_(fake_y, z_other), F_(y, code)
        feats = {name: extractor(image) for name, image in (("out", with_code), ("y", y), ("x", x))}
        style = sum(((gram(feats["out"][k]) - gram(feats["x"][k])) ** 2).mean() for k in ("relu1_2", "relu2_2"))
        six = [fake_y, fake_x, F_(fake_y, code), G(fake_x), from_g, with_code]
        expected = {
            "G_GAN": lsgan_g(D_Y(fake_y)),
            "F_GAN": lsgan_g(D_X(fake_x)),
            "E_GAN": 0.5 * lsgan_g(D_Z(code)),
            "cycle_X": 2.0 * (F_(fake_y, code) - x).abs().mean(),
            "cycle_Y": 3.0 * (G(fake_x) - y).abs().mean(),
            "cycle_z": 4.0 * (E(fake_x) - z).abs().mean(),
            "F_GAN_Gx": 5.0 * lsgan_g(D_X(from_g)),
            "F_GAN_Ex": 6.0 * lsgan_g(D_X(with_code)),
            "content": 7.0 * ((feats["out"]["relu2_2"] - feats["y"]["relu2_2"]) ** 2).mean(),
            "style": 8.0 * style,
            "tv": 9.0 * sum(squared_tv(image) for image in six),
        }
    assert set(terms) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(terms[name].detach(), value, rtol=1e-5, atol=1e-6, msg=name)


def test_without_the_extension_terms_the_total_is_eq_12(batch):
    """ext with lambda5..lambda9 = 0, and wo_ex whatever its lambda5..9: Eq. 12's six terms."""
    x, y = batch
    for model in (model_with(lambda5=0.0, lambda6=0.0, lambda9=0.0), model_with(variant="wo_ex", z_injection="cin")):
        z = model.sample_z(y)
        terms, _ = model.generator_terms(x, y, z, model.sample_z(y))
        with torch.no_grad():
            fake_y, code, fake_x = model.G(x), model.E(x), model.F(y, z)
            eq12 = (
                lsgan_g(model.D_Y(fake_y)) + lsgan_g(model.D_X(fake_x)) + lsgan_g(model.D_Z(code))
                + 10 * (model.F(fake_y, code) - x).abs().mean() + 10 * (model.G(fake_x) - y).abs().mean()
                + 10 * (model.E(fake_x) - z).abs().mean()
            )  # fmt: skip
        assert set(terms) == {"G_GAN", "F_GAN", "E_GAN", "cycle_X", "cycle_Y", "cycle_z"}
        torch.testing.assert_close(sum(terms.values()).detach(), eq12, rtol=1e-5, atol=1e-6)


def test_discriminator_terms_are_the_weighted_adversarial_losses(batch):
    model = model_with(lambda1=2.0, lambda5=3.0, lambda6=0.5)
    x, y = batch
    _, synthesised = model.generator_terms(x, y, model.sample_z(y), model.sample_z(y))
    torch.manual_seed(9)
    terms = model.discriminator_terms(x, y, synthesised)
    torch.manual_seed(9)  # D_Z's real samples: the same draw
    prior = model.sample_z(x)
    with torch.no_grad():
        s = {name: image.detach() for name, image in synthesised.items()}
        expected_x = 0.5 * sum(
            w * lsgan_d(model.D_X(x), model.D_X(s[k])) for w, k in ((1.0, "F(y,z)"), (3.0, "F(G(x),z)"), (0.5, "F(y,E(x))"))
        )
        expected = {
            "D_X": expected_x,
            "D_Y": 0.5 * lsgan_d(model.D_Y(y), model.D_Y(s["G(x)"])),
            "D_Z": 0.5 * 2.0 * lsgan_d(model.D_Z(prior), model.D_Z(s["E(x)"])),
        }
    for name, value in expected.items():
        torch.testing.assert_close(terms[name].detach(), value, rtol=1e-5, atol=1e-6, msg=name)


def test_options_are_checked_when_built():
    with pytest.raises(ValueError, match="model.variant='both' is unknown"):
        model_with(variant="both")
    with pytest.raises(ValueError, match="model.rich_domain='X' is unknown"):
        model_with(rich_domain="X")
    with pytest.raises(ValueError, match="model.z_injection='add' is unknown"):
        model_with(z_injection="add")
    with pytest.raises(ValueError, match="z map of image_size/8 = 4 pixels.*model.image_size >= 64"):
        model_with(z_injection="concat")
    with pytest.raises(ValueError, match="multiples of 8"):
        model_with(image_size=36)


def test_a_missing_vgg_file_stops_fit_naming_the_option(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_ZOO_VGG_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    model = model_with(lambda7=0.2, vgg_weights=str(tmp_path / "vgg16.pth"))
    batch = METHODS["AsymGAN"].make_batch(2, torch.Generator().manual_seed(0))
    samples = [{key: value[i] for key, value in batch.items()} for i in range(2)]
    trainer = Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(FileNotFoundError, match="vgg_weights") as error:
        trainer.fit(model, DataLoader(samples, batch_size=2))
    assert "vgg16.pth" in str(error.value)
    assert model.iteration == 0


def test_a_vgg_file_loads_at_fit_start_and_stays_out_of_checkpoints(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_ZOO_VGG_WEIGHTS", raising=False)
    generator = torch.Generator().manual_seed(0)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128)}  # torchvision VGG16 up to relu2_2
    state = {}
    for index, (out_channels, in_channels) in shapes.items():
        state[f"features.{index}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * 0.1
        state[f"features.{index}.bias"] = torch.zeros(out_channels)
    torch.save(state, tmp_path / "vgg16_head.pth")
    model = model_with(lambda7=0.2, lambda8=0.1, content_layer="relu2_2", style_layers=["relu1_2"], vgg_weights=str(tmp_path / "vgg16_head.pth"))
    batch = METHODS["AsymGAN"].make_batch(2, torch.Generator().manual_seed(0))
    samples = [{key: value[i] for key, value in batch.items()} for i in range(2)]
    trainer = Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      log_every_n_steps=1)  # fmt: skip
    trainer.fit(model, DataLoader(samples, batch_size=2))
    assert trainer.logged_metrics["train/content"] > 0 and trainer.logged_metrics["train/style"] > 0
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    stored = read_checkpoint(tmp_path / "model.ckpt")["state_dict"]
    # The networks' weights and nothing else: the VGG's 4 convs would add 260,160 numbers.
    assert sum(value.numel() for value in stored.values()) == sum(p.numel() for p in model.parameters())


def test_translate_draws_encodes_and_samples():
    model = model_with().eval()
    x, y = images(2, seed=3), images(2, seed=4)
    with torch.no_grad():
        assert model.translate(x, "XtoY").shape == (2, 3, 32, 32)
        assert torch.equal(model.translate(y, seed=5), model.translate(y, seed=5))
        assert not torch.equal(model.translate(y, seed=5), model.translate(y, seed=6))
        samples = model.translate(y, n_samples=3, seed=1)
        assert samples.shape == (2, 3, 3, 32, 32)
        z = model.encode(x)
        torch.testing.assert_close(model.translate(y, reference=x), model.F(y, z))
        # One z (or one reference) for every image.
        torch.testing.assert_close(model.translate(y, z=z[0]), model.F(y, z[:1].expand(2, -1)))
        torch.testing.assert_close(model.translate(y, reference=x[:1]), model.F(y, z[:1].expand(2, -1)))
        path = model.interpolate(y, z[0], z[1], steps=3)
        assert path.shape == (2, 3, 3, 32, 32)
        torch.testing.assert_close(path[:, 0], model.translate(y, z=z[0]))
        torch.testing.assert_close(path[:, 2], model.translate(y, z=z[1]))
        torch.testing.assert_close(path[:, 1], model.translate(y, z=(z[0] + z[1]) / 2))
    with pytest.raises(ValueError, match=r"z for 2 images .* must have shape \(8,\)"):
        model.translate(y, z=torch.zeros(3, 8))
    with pytest.raises(ValueError, match="n_samples=2"):
        model.translate(y, z=z, n_samples=2)
    with pytest.raises(ValueError, match="direction='BtoA' is unknown"):
        model.translate(y, "BtoA")


def test_predict_writes_seeded_samples_side_by_side_or_the_reference_code():
    model = model_with(predict_samples=2, predict_seed=3).eval()
    y, x = images(2, seed=4), images(2, seed=5)
    batch = {"image": y, "path": ["in/a.png", "in/b.png"]}
    output = model.predict_step(batch, 0)["image"]
    assert output.shape == (2, 3, 32, 64)
    # A file's translations do not depend on its batch.
    alone = model.predict_step({"image": y[1:], "path": ["elsewhere/b.png"]}, 0)["image"]
    torch.testing.assert_close(alone[0], output[1])
    assert not torch.equal(output[..., :32], output[..., 32:])
    with torch.no_grad():
        encoded = model.predict_step({**batch, "reference": x}, 0)["image"]
        torch.testing.assert_close(encoded, model.translate(y, reference=x))
    model.direction = "XtoY"
    torch.testing.assert_close(model.predict_step({"image": x, "path": ["p.png"] * 2}, 0)["image"], model.translate(x, "XtoY"))


@pytest.mark.parametrize("injection, side", [("cin", 32), ("concat", 64)])
def test_export_fixes_z_and_matches_translate(tmp_path, injection, side):
    model = model_with(image_size=side, z_injection=injection).eval()
    y = images(2, side=side, seed=6)
    z = model.sample_z(y[:1], torch.Generator().manual_seed(2))
    network = model.export_generator("YtoX", z=z[0].tolist())
    with torch.no_grad():
        torch.testing.assert_close(network(y), model.translate(y, z=z[0]))
        # Drawn from the seed when no z is given: predict_seed's draw by default.
        torch.testing.assert_close(model.export_generator("YtoX", seed=2)(y), network(y))
    path = export_generator_file(model, tmp_path / "F.pt2", "pt2", direction="YtoX", z=z[0].tolist())
    with torch.no_grad():
        larger = images(1, side=side + 16, seed=7)
        torch.testing.assert_close(torch.export.load(path).module()(larger), network(larger), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="z must be"):
        model.export_generator("YtoX", z=[0.0, 1.0])


def test_evaluation_scores_the_encoded_rebuild_where_true_pairs_exist():
    model = model_with().eval()
    x, y = images(2, seed=1), images(2, seed=2)
    with torch.no_grad():
        groups = model.evaluation_images({"A": y, "B": x})
        assert set(groups) == {"XtoY", "YtoX"} and groups["XtoY"].target is None
        groups = model.evaluation_images({"A": y, "B": x, "A_true": y.flip(0), "B_true": x.flip(0)})
    assert set(groups) == {"XtoY", "YtoX", "YtoX_encoded"}
    assert torch.equal(groups["XtoY"].target, y.flip(0)) and torch.equal(groups["YtoX"].target, x.flip(0))
    with torch.no_grad():
        torch.testing.assert_close(groups["YtoX_encoded"].fake, model.translate(y, reference=x.flip(0)))
