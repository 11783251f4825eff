import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from i2i_zoo.data import PairedDataModule
from i2i_zoo.methods import Pix2Pix

TINY = dict(ngf=8, ndf=8, num_downs=5, image_size=32)


def _record_steps(model):
    steps = []
    model.optimize = lambda name, loss, terms=None: steps.append((name, loss.detach(), {k: v.detach() for k, v in terms.items()}))
    return steps


def test_training_step_terms_match_hand_computed_losses():
    torch.manual_seed(0)
    model = Pix2Pix(**TINY, use_dropout=False, lambda_L1=100.0)
    model.train()
    steps = _record_steps(model)
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}
    with torch.no_grad():
        # Batch norm in train mode uses batch statistics, so the reference runs the same networks.
        fake = model.G(batch["A"])
        real_logits = model.D(torch.cat([batch["A"], batch["B"]], 1))
        fake_logits = model.D(torch.cat([batch["A"], fake], 1))
    model.training_step(batch, 0)
    (d_name, d_loss, d_terms), (g_name, g_loss, g_terms) = steps
    assert (d_name, g_name) == ("D", "G")  # discriminator first, as the original optimize_parameters
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(d_terms["D_real"], bce(real_logits, torch.ones_like(real_logits)))
    torch.testing.assert_close(d_terms["D_fake"], bce(fake_logits, torch.zeros_like(fake_logits)))
    torch.testing.assert_close(d_loss, 0.5 * (d_terms["D_real"] + d_terms["D_fake"]))
    torch.testing.assert_close(g_terms["G_GAN"], bce(fake_logits, torch.ones_like(fake_logits)))
    torch.testing.assert_close(g_terms["G_L1"], 100.0 * (fake - batch["B"]).abs().mean())
    torch.testing.assert_close(g_loss, g_terms["G_GAN"] + g_terms["G_L1"])


def test_btoa_swaps_source_and_target_and_channels():
    model = Pix2Pix(channels_A=1, channels_B=3, direction="BtoA", **TINY)
    assert (model.G.in_channels, model.G.out_channels) == (3, 1)
    assert model.D.model[0].in_channels == 4
    out = model.translate(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="takes 3-channel images, got 1"):
        model.translate(torch.rand(2, 1, 32, 32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_size=48), "multiples of 32"),
        (dict(direction="AtoC"), "model.direction"),
        (dict(inference_mode="test"), "model.inference_mode"),
        (dict(gan_mode="wasserstein"), "wasserstein"),
        (dict(lr_policy="cosine"), "model.lr_policy"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pix2Pix(**{**TINY, **kwargs})


def test_inference_modes():
    torch.manual_seed(0)
    # num_downs=6 has one dropout block (num_downs - 5).
    model = Pix2Pix(**{**TINY, "num_downs": 6, "image_size": 64}).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    stats = [b.clone() for b in model.G.buffers()]
    # "train": dropout is the noise, so two calls differ; running statistics stay untouched.
    first, second = model.translate(x), model.translate(x)
    assert not torch.allclose(first, second)
    assert all(torch.equal(a, b) for a, b in zip(stats, model.G.buffers()))
    assert not model.G.training
    model.inference_mode = "eval"
    torch.testing.assert_close(model.translate(x), model.translate(x))


def test_nonfinite_loss_names_the_term_and_iteration(tmp_path, demo_paired):
    model = Pix2Pix(**TINY)
    model.lambda_L1 = float("nan")
    model.iteration = 0
    trainer = Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(FloatingPointError, match=r"optimizer 'G' .* iteration 0: non-finite term\(s\) G_L1"):
        trainer.fit(model, datamodule=demo_paired(crop_size=32))


def test_nonfinite_loss_is_caught_before_a_checkpoint_is_written(tmp_path, demo_paired):
    """Finiteness is checked on logged iterations only (a check waits for the GPU), but always
    before a checkpoint: the weights a NaN has updated are never saved."""
    model = Pix2Pix(**TINY)
    model.lambda_L1 = float("nan")
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, every_n_train_steps=1)
    trainer = Trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=0, logger=False, log_every_n_steps=50,
                      callbacks=[checkpoints], enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(FloatingPointError, match=r"optimizer 'G' .* iteration 0: non-finite term\(s\) G_L1"):
        trainer.fit(model, datamodule=demo_paired(crop_size=32))
    assert not list(tmp_path.rglob("*.ckpt"))


def _val_l1(model, datamodule):
    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    return trainer.validate(model, datamodule=datamodule, verbose=False)[0]["val/l1"]


def test_pix2pix_learns_on_the_demo_data(tmp_path):
    """A CPU run of well under 60 s lowers validation L1 against the target by at least 30%."""
    torch.manual_seed(0)
    data = PairedDataModule(root="demo:shapes", load_size=64, crop_size=64, batch_size=4, num_workers=0)
    model = Pix2Pix(ngf=16, ndf=16, num_downs=6, image_size=64, n_epochs=2, n_epochs_decay=1, inference_mode="eval")
    before = _val_l1(model, data)
    trainer = Trainer(max_epochs=3, limit_train_batches=60, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=data)
    after = _val_l1(model, data)
    print(f"pix2pix demo: val L1 {before:.4f} -> {after:.4f}")
    assert after <= 0.7 * before


def test_images_that_do_not_fit_the_unet_name_the_options():
    model = Pix2Pix(**TINY)
    with pytest.raises(ValueError, match=r"40x40 images .* multiples of 32.*data\.crop_size"):
        model.training_step({"A": torch.zeros(1, 3, 40, 40), "B": torch.zeros(1, 3, 40, 40)}, 0)
