"""BigGAN: the hinge terms against a hand computation, the orthogonal regulariser against the
reference's gradient, TTUR/betas/eps in the built optimizers, micro-batch accumulation, generate and
its moving average, predict's samples in class folders (through the Trainer and the command line),
and learning the demo tints (per-class FID, averaged as mFID, falls)."""

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer, seed_everything
from torch import nn

from i2i_zoo.callbacks import PredictionWriter
from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.losses import orthogonal_regularization
from i2i_zoo.methods import BigGAN
from i2i_zoo.metrics import ImageQualityMetrics

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
TINTS = ["red", "green", "blue", "yellow"]
QUIET = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
             enable_checkpointing=False, num_sanity_val_steps=0)


def tiny(**overrides):
    options = dict(domains=TINTS, image_size=32, G_ch=4, D_ch=4, dim_z=8, shared_dim=8, G_attn=[], D_attn=[])
    return BigGAN(**{**options, **overrides})


def tints(batch_size=16, **overrides):
    options = dict(root="demo:tints", domains=TINTS, image_size=32, batch_size=batch_size, num_workers=0, flip=False)
    return MultiDomainDataModule(**{**options, **overrides})


def images(n=4, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class FirstPixelCritic(nn.Module):
    """D(x, y) = x[:, 0, 0, 0]: scores set by hand through the images."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x, y):
        return self.weight * x[:, 0, 0, 0]


class LabelPainter(nn.Module):
    """G(z, y) = images filled with y - 1.5 (so D scores a fake of class y at y - 1.5)."""

    dim_z = 3

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.shared = nn.Embedding(4, 2)

    def forward(self, z, y):
        return self.weight * (y.float() - 1.5)[:, None, None, None].expand(-1, 3, 32, 32) + 0 * z.sum()


def record(model):
    """Replace the updates by a record of what each would optimise: (name, loss, terms, micro-batches)."""
    calls = []

    def optimize(name, loss, terms=None, batch=None):
        micro = loss(batch)
        calls.append((name, *micro, batch))

    model.optimize = optimize
    return calls


def test_hinge_terms_match_a_hand_computation():
    model = tiny()
    model.G, model.D = LabelPainter(), FirstPixelCritic()
    calls = record(model)
    x = torch.zeros(4, 3, 32, 32)
    x[:, 0, 0, 0] = torch.tensor([2.0, 0.5, -0.5, -2.0])  # D's scores of the real images
    torch.manual_seed(5)
    model.training_step({"image": x, "label": torch.tensor([0, 1, 2, 3])}, 0)

    torch.manual_seed(5)
    y_fake = torch.randint(4, (4,))  # the D step's classes, drawn first
    torch.randn(4, 3)  # its latents
    y_g = torch.randint(4, (4,))  # the G step's classes
    d_real = (torch.tensor([0.0, 0.5, 1.5, 3.0])).mean()  # relu(1 - [2, .5, -.5, -2])
    d_fake = torch.clamp(1 + (y_fake.float() - 1.5), min=0).mean()  # relu(1 + D(G(z, y'), y'))
    g_fake = -(y_g.float() - 1.5).mean()  # -D(G(z, y), y)
    assert [name for name, *_ in calls] == ["D", "G"]
    (_, d_loss, d_terms, _), (_, g_loss, g_terms, g_batch) = calls
    assert d_terms["D_real"].item() == pytest.approx(1.25) == pytest.approx(d_real.item())
    assert d_terms["D_fake"].item() == pytest.approx(d_fake.item())
    assert d_loss.item() == pytest.approx(d_real.item() + d_fake.item())
    assert torch.equal(g_batch["label"], y_g)
    assert g_terms["G_fake"].item() == pytest.approx(g_fake.item()) and g_loss.item() == pytest.approx(g_fake.item())


def test_orthogonal_regularization_has_the_references_gradient():
    torch.manual_seed(0)
    w = torch.randn(5, 3, 2, 2, requires_grad=True)
    bias, excluded = torch.randn(5, requires_grad=True), torch.randn(4, 4, requires_grad=True)
    loss = orthogonal_regularization([w, bias, excluded], exclude=[excluded])
    loss.backward()
    m = w.detach().reshape(5, -1)
    off = (m @ m.T) * (1 - torch.eye(5))
    assert loss.item() == pytest.approx(0.5 * off.square().sum().item(), rel=1e-5)
    # BigGAN-PyTorch's utils.ortho adds 2 (W W^T * (1 - I)) W to the gradient.
    torch.testing.assert_close(w.grad, (2 * off @ m).reshape(w.shape))
    assert bias.grad is None and excluded.grad is None
    # 2x2 by hand: W = [[1, 2], [3, 4]], W W^T off-diagonal 11, loss 0.5 * 2 * 121.
    assert orthogonal_regularization([torch.tensor([[1.0, 2], [3, 4]])]).item() == 121.0


def test_ortho_terms_are_added_to_their_step_and_skip_the_shared_embedding():
    model = tiny(G_ortho_weight=1e-2, D_ortho_weight=1e-3)
    with torch.no_grad():
        model.G.shared.weight.fill_(1.0)  # far from orthogonal (it starts orthogonal)
    calls = record(model)
    model.training_step({"image": images(), "label": torch.tensor([0, 1, 2, 3])}, 0)
    (_, _, d_terms, _), (_, _, g_terms, _) = calls
    assert d_terms["D_ortho"].item() == pytest.approx(1e-3 * orthogonal_regularization(model.D.parameters()).item())
    with_shared = orthogonal_regularization(model.G.parameters())
    without = orthogonal_regularization(model.G.parameters(), exclude=model.G.shared.parameters())
    assert g_terms["G_ortho"].item() == pytest.approx(1e-2 * without.item()) and without < with_shared


def test_optimizers_have_ttur_rates_betas_and_eps():
    model = BigGAN(n_classes=3, image_size=32, G_ch=4, D_ch=4, dim_z=8, shared_dim=8, G_attn=[], D_attn=[],
                   num_G_accumulations=8, num_D_accumulations=8)
    assert (model.hparams.lr_g, model.hparams.lr_d, tuple(model.hparams.betas), model.hparams.adam_eps) == (1e-4, 4e-4, (0.0, 0.999), 1e-6)
    assert (model.hparams.ema_decay, model.hparams.ema_start, model.hparams.num_D_steps) == (0.9999, 20000, 1)
    (g, d), _ = model.configure_optimizers()
    for optimizer, lr, net in ((g, 1e-4, model.G), (d, 4e-4, model.D)):
        assert isinstance(optimizer, torch.optim.Adam)
        (group,) = optimizer.param_groups
        assert (group["lr"], group["betas"], group["eps"]) == (lr, (0.0, 0.999), 1e-6)
        assert [id(p) for p in group["params"]] == [id(p) for p in net.parameters()]
    assert model._accumulation == {"G": 8, "D": 8}
    assert model.classes == ["0", "1", "2"]


def test_accumulation_and_d_steps_split_the_batch(quiet_trainer):
    """num_D_steps 2 x num_D_accumulations 2 on a batch of 8: four D micro-batches of 2 real images
    (each with 2 fakes), two D updates; then one G update over num_G_accumulations 3 micro-batches
    of 2 fakes."""
    seed_everything(0)
    model = tiny(num_D_steps=2, num_D_accumulations=2, num_G_accumulations=3)
    seen = {"D": [], "G": []}
    d_loss, g_loss = model.discriminator_loss, model.generator_loss
    model.discriminator_loss = lambda b: (seen["D"].append(len(b["image"])), d_loss(b))[1]
    model.generator_loss = lambda b: (seen["G"].append(len(b["label"])), g_loss(b))[1]
    batch = [{"image": x, "label": torch.tensor(k % 4)} for k, x in enumerate(images(8))]
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batch, batch_size=8))
    assert seen == {"D": [2, 2, 2, 2], "G": [2, 2, 2]}
    g_optimizer, d_optimizer = trainer.optimizers
    assert d_optimizer.state[next(model.D.parameters())]["step"].item() == 2
    assert g_optimizer.state[next(model.G.parameters())]["step"].item() == 1
    assert {"train/D_real", "train/D_fake", "train/G_fake"} <= set(trainer.logged_metrics)

    with pytest.raises(ValueError, match=r"batch of 6 does not split into model.num_D_steps x model.num_D_accumulations = 4"):
        model.training_step({"image": images(6), "label": torch.zeros(6, dtype=torch.long)}, 0)


def test_generate_uses_the_moving_average_and_names():
    torch.manual_seed(0)
    model = tiny(ema_decay=0.9, ema_start=0).eval()
    with torch.no_grad():
        for p in model.G_ema.parameters():
            p.mul_(0.5)
        z = torch.randn(3, model.G.dim_z)
        out = model.generate(["blue", 0, "yellow"], z)
        assert out.shape == (3, 3, 32, 32) and out.abs().max() <= 1
        torch.testing.assert_close(out, model.G_ema(z, torch.tensor([2, 0, 3])))
        assert not torch.allclose(out, model.G(z, torch.tensor([2, 0, 3])))
        assert model.generate(torch.tensor([1, 1])).shape == (2, 3, 32, 32)  # z drawn
        plain = tiny(ema_decay=0).eval()
        torch.testing.assert_close(plain.generate([1], z[:1]), plain.G(z[:1], torch.tensor([1])))
    with pytest.raises(ValueError, match="unknown class 'purple'"):
        model.generate(["purple"])
    with pytest.raises(ValueError, match="class index 4 is out of range"):
        model.generate([4])
    with pytest.raises(ValueError, match="model.n_classes=3 but model.domains names 4 classes"):
        tiny(n_classes=3)
    with pytest.raises(ValueError, match="BigGAN takes one class index per image"):
        model.training_step({"image": images(2), "label": torch.zeros(2, 4)}, 0)


def test_evaluation_groups_are_the_classes():
    torch.manual_seed(0)
    model = tiny().eval()
    x, labels = images(5), torch.tensor([0, 2, 2, 3, 0])
    with torch.no_grad():
        groups = model.evaluation_images({"image": x, "label": labels})
    assert list(groups) == TINTS
    assert [len(groups[name].fake) for name in TINTS] == [2, 0, 2, 1]
    assert torch.equal(groups["blue"].real, x[[1, 2]]) and len(groups["green"].real) == 0
    assert list(tiny(evaluation_groups="all").eval().evaluation_images({"image": x, "label": labels})) == ["all"]


def test_predict_writes_samples_per_class_into_class_folders(tmp_path, caplog):
    torch.manual_seed(0)
    model = tiny(samples_per_class=3, predict_classes=["green", "yellow"])
    trainer = Trainer(**QUIET, callbacks=[PredictionWriter(output_dir=str(tmp_path / "out"))])
    with caplog.at_level(logging.INFO):
        trainer.predict(model, datamodule=tints(batch_size=4), return_predictions=False)
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert written == [f"{c}/{i:04d}.png" for c in ("green", "yellow") for i in range(3)]
    assert f"6 written to {tmp_path / 'out'}, 0 skipped" in caplog.text
    # Each sample's latent depends on (predict_seed, class, number) only, not on the batch.
    first = (tmp_path / "out" / "green" / "0001.png").read_bytes()
    trainer = Trainer(**QUIET, callbacks=[PredictionWriter(output_dir=str(tmp_path / "again"))])
    trainer.predict(model, datamodule=tints(batch_size=1), return_predictions=False)
    assert (tmp_path / "again" / "green" / "0001.png").read_bytes() == first
    # Never over earlier results.
    trainer = Trainer(**QUIET, callbacks=[PredictionWriter(output_dir=str(tmp_path / "out"))])
    with pytest.raises(FileExistsError, match="is not empty"):
        trainer.predict(model, datamodule=tints(), return_predictions=False)


def test_predict_from_the_command_line_with_the_demo_recipe(monkeypatch, tmp_path):
    """`i2i-zoo predict -c recipes/biggan/demo.yaml --ckpt_path X`: no predict_dir, samples per
    class into class folders under predictions/<checkpoint stem>; --model.samples_per_class and
    --model.predict_classes apply over the checkpoint's."""
    from i2i_zoo.cli import run
    from i2i_zoo.convert import save_checkpoint

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tiny(), tmp_path / "tiny.ckpt")
    run(["predict", "-c", str(RECIPES / "biggan" / "demo.yaml"), "--ckpt_path", str(checkpoint), "--data.num_workers", "0",
         "--model.init_args.samples_per_class", "2", "--model.init_args.predict_classes", "[red, blue]",
         "--trainer.enable_progress_bar", "false"])
    written = sorted(str(p.relative_to(tmp_path / "predictions" / "tiny")) for p in (tmp_path / "predictions" / "tiny").rglob("*"))
    assert written == ["blue", "blue/0000.png", "blue/0001.png", "red", "red/0000.png", "red/0001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions", "tiny.ckpt"]  # no runs/, no config


class ColourFeatures(nn.Module):
    """Cheap features for FID on CPU: 4x4 average colours and their local contrast (96 numbers);
    the Inception costs seconds per batch here."""

    def forward(self, images):
        pooled = F.adaptive_avg_pool2d(images, 4)
        contrast = F.adaptive_avg_pool2d((images - F.avg_pool2d(images, 3, 1, 1)).abs(), 4)
        return torch.cat([pooled.flatten(1), contrast.flatten(1)], 1)


def test_learns_the_demo_classes_per_class_fid_falls():
    """Tiny BigGAN (ch 4) on the demo tints at 32 px, the reference's losses and optimisers with
    demo rates (4x the reference's, TTUR kept), 60 iterations of 16: mFID over the 4 class groups
    (each class's samples against that class's test images, on colour features) must fall to
    under half its untrained value (measured on 2 CPU cores: 5.1 -> 2.0, 7.4 -> 2.2, 4.9 -> 1.6, 5.1 -> 2.2
    for seeds 0-3; about 8 s)."""
    seed_everything(0)
    model = tiny(lr_g=4e-4, lr_d=1.6e-3, ema_decay=0)
    data = tints(batch_size=16)
    metrics = ImageQualityMetrics(metrics=["fid"], feature_extractor=ColourFeatures(), cache_features=False)
    trainer = Trainer(**QUIET, max_steps=-1, max_epochs=-1, callbacks=[metrics], limit_val_batches=1.0)
    before = trainer.validate(model, datamodule=tints(batch_size=160), verbose=False)[0]["val/mfid"]
    trainer = Trainer(**QUIET, max_epochs=-1, limit_val_batches=0)
    model.max_iterations = 60
    trainer.fit(model, datamodule=data)
    assert model.iteration == 60
    trainer = Trainer(**QUIET, callbacks=[metrics])
    after = trainer.validate(model, datamodule=tints(batch_size=160), verbose=False)[0]["val/mfid"]
    print(f"mFID (colour features) {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before


def test_from_biggan_pytorch_files(tmp_path):
    """BigGAN-PyTorch's G.pth, D.pth and G_ema.pth (state dicts under its names) become the
    method's G, D and G_ema, the architecture read off the shapes."""
    torch.manual_seed(0)
    source = tiny(G_attn=[16], D_attn=[16], n_classes=None, ema_decay=0.5)
    with torch.no_grad():
        for p in source.G_ema.parameters():
            p.mul_(0.5)
    for name in ("G", "D", "G_ema"):
        torch.save(getattr(source, name).state_dict(), tmp_path / f"{name}.pth")
    model = BigGAN.from_biggan_pytorch(tmp_path / "G.pth", tmp_path / "D.pth", tmp_path / "G_ema.pth", domains=TINTS)
    assert (model.G.resolution, model.G.ch, model.G.dim_z, model.G.attention, model.D.attention) == (32, 4, 8, (16,), (16,))
    for name in ("G", "D", "G_ema"):
        for key, value in getattr(source, name).state_dict().items():
            assert torch.equal(getattr(model, name).state_dict()[key], value), f"{name}.{key}"
    assert model.classes == TINTS
    assert BigGAN.from_biggan_pytorch(tmp_path / "G_ema.pth", ema_decay=0).classes == ["0", "1", "2", "3"]


def test_imagenet_recipe_holds_the_launch_scripts_settings():
    """recipes/biggan/imagenet128.yaml against BigGAN-PyTorch's scripts/launch_BigGAN_bs256x8.sh."""
    import yaml

    recipe = yaml.safe_load((RECIPES / "biggan" / "imagenet128.yaml").read_text())
    model, data = recipe["model"]["init_args"], recipe["data"]["init_args"]
    launch = {"G_ch": 96, "D_ch": 96, "dim_z": 120, "shared_dim": 128, "hier": True, "G_attn": [64], "D_attn": [64],
              "lr_g": 1e-4, "lr_d": 4e-4, "betas": [0.0, 0.999], "adam_eps": 1e-6, "num_D_steps": 1,
              "num_G_accumulations": 8, "num_D_accumulations": 8, "G_ortho_weight": 0.0, "ema_decay": 0.9999,
              "ema_start": 20000}
    assert {key: model[key] for key in launch} == launch
    assert data["batch_size"] == 256 * 8 and data["image_size"] == 128 and data["flip"] is False
    assert recipe["seed_everything"] == 0
    assert len(data["domains"]) == 1000 and data["domains"] == sorted(data["domains"]) and data["domains"][0] == "n01440764"
