"""CycleGAN: each loss term against a hand computation, the image pool, learning on the recolor
demo data (against its hidden true pairs), and exact resume with the pools."""

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.data import UnpairedDataModule
from i2i_zoo.methods import CycleGAN, ImagePool


def tiny(**overrides):
    options = dict(image_size=32, generator="resnet_6blocks", ngf=8, ndf=8, n_layers_D=2, pool_size=4)
    return CycleGAN(**{**options, **overrides})


def test_each_loss_term_matches_a_hand_computation():
    torch.manual_seed(0)
    model = tiny()
    calls = {}
    model.optimize = lambda name, loss, terms: calls.__setitem__(name, (loss, terms))  # record, no step
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    model.training_step({"A": a, "B": b}, 0)

    with torch.no_grad():
        G, F_, D_A, D_B = model.G, model.F, model.D_A, model.D_B
        fake_b, fake_a = G(a), F_(b)
        expected = {
            "G_GAN": ((D_B(fake_b) - 1) ** 2).mean(),  # LSGAN: fakes judged real
            "F_GAN": ((D_A(fake_a) - 1) ** 2).mean(),
            "cycle_A": 10 * (F_(fake_b) - a).abs().mean(),
            "cycle_B": 10 * (G(fake_a) - b).abs().mean(),
            "idt_G": 10 * 0.5 * (G(b) - b).abs().mean(),
            "idt_F": 10 * 0.5 * (F_(a) - a).abs().mean(),
        }
        # The pools are empty: the discriminators see this step's fakes.
        expected_D = {
            "D_A": 0.5 * (((D_A(a) - 1) ** 2).mean() + (D_A(fake_a) ** 2).mean()),
            "D_B": 0.5 * (((D_B(b) - 1) ** 2).mean() + (D_B(fake_b) ** 2).mean()),
        }
    loss_G, terms_G = calls["G"]
    loss_D, terms_D = calls["D"]
    for name, value in {**expected, **expected_D}.items():
        got = {**terms_G, **terms_D}[name]
        assert got.item() == pytest.approx(value.item(), rel=1e-5), name
    assert loss_G.item() == pytest.approx(sum(expected.values()).item(), rel=1e-5)
    assert loss_D.item() == pytest.approx(sum(expected_D.values()).item(), rel=1e-5)
    assert len(model.pool_A.images) == 2 and len(model.pool_B.images) == 2


def test_identity_term_off_and_channel_check():
    model = tiny(lambda_identity=0)
    calls = {}
    model.optimize = lambda name, loss, terms: calls.__setitem__(name, terms)
    model.training_step({"A": torch.zeros(1, 3, 32, 32), "B": torch.zeros(1, 3, 32, 32)}, 0)
    assert "idt_G" not in calls["G"]
    with pytest.raises(ValueError, match="lambda_identity=0.5 compares G\\(b\\) with b"):
        CycleGAN(channels_A=1, channels_B=3, image_size=32, generator="resnet_6blocks", ngf=8, ndf=8)
    with pytest.raises(ValueError, match="multiples of 256"):
        CycleGAN(image_size=64, generator="unet_256")


def test_pool_returns_stored_images_half_the_time_once_full():
    torch.manual_seed(0)
    pool = ImagePool(10)
    first = torch.arange(10.0).view(10, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the images themselves
    stored = 0
    for step in range(400):
        new = (100.0 + 5 * step + torch.arange(5.0)).view(5, 1, 1, 1)  # every image distinct
        out = pool.query(new)
        stored += int((out != new).sum())
        assert len(pool.images) == 10
    assert stored / 2000 == pytest.approx(0.5, abs=0.04)
    assert torch.equal(ImagePool(0).query(first), first)


def recolor(batch_size=4):
    return UnpairedDataModule(
        root="demo:recolor", load_size=32, crop_size=32, batch_size=batch_size, num_workers=0, flip=False,
        pairs_file="pairs.csv",
    )


def val_errors(model, datamodule):
    """L1 of G(A) to the hidden true B, and the cycle loss, over the validation images."""
    datamodule.setup("validate")
    l1 = cycle = count = 0.0
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            a, b, n = batch["A"], batch["B"], len(batch["A"])
            l1 += (model.G(a) - batch["B_true"]).abs().mean().item() * n
            cycle += 10 * ((model.F(model.G(a)) - a).abs().mean() + (model.G(model.F(b)) - b).abs().mean()).item() * n
            count += n
    return l1 / count, cycle / count


def test_learns_the_recolor_mapping_from_unpaired_data():
    """The recolor demo's true mapping is a fixed channel rotation; the identity term (which asks
    that colours be kept) is off for it."""
    seed_everything(0)
    datamodule = recolor()
    model = tiny(lambda_identity=0, lr_g=1e-3, lr_d=1e-3, lr_policy="constant", pool_size=10)
    l1_before, cycle_before = val_errors(model, datamodule)
    Trainer(
        max_epochs=4, limit_train_batches=50, limit_val_batches=0, logger=False, enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False,
    ).fit(model, datamodule=datamodule)
    l1_after, cycle_after = val_errors(model, datamodule)
    print(f"L1 to true pairs {l1_before:.4f} -> {l1_after:.4f}, cycle {cycle_before:.3f} -> {cycle_after:.3f}")
    assert cycle_after < 0.5 * cycle_before
    assert l1_after < l1_before


def _fit(root, max_epochs, ckpt_path=None):
    model = tiny(n_epochs=1, n_epochs_decay=2, pool_size=3)
    trainer = Trainer(
        max_epochs=max_epochs, limit_train_batches=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=root, plugins=[AtomicCheckpointIO()],
        callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
    )
    trainer.fit(model, datamodule=recolor(batch_size=2), ckpt_path=ckpt_path)
    return model, trainer


def test_resume_continues_the_schedule_and_the_pools(tmp_path):
    seed_everything(0)
    full, full_trainer = _fit(tmp_path / "full", max_epochs=3)
    seed_everything(0)
    _fit(tmp_path / "part", max_epochs=1)
    seed_everything(99)
    resumed, trainer = _fit(tmp_path / "part", max_epochs=3, ckpt_path=tmp_path / "part" / "ckpt" / "last.ckpt")

    assert resumed.iteration == full.iteration == 9
    assert [c.scheduler.last_epoch for c in trainer.lr_scheduler_configs] == [3, 3]
    assert trainer.optimizers[0].param_groups[0]["lr"] == full_trainer.optimizers[0].param_groups[0]["lr"]
    for pool in ("pool_A", "pool_B"):
        ours, theirs = getattr(resumed, pool).images, getattr(full, pool).images
        assert len(ours) == 3 and all(torch.equal(x, y) for x, y in zip(ours, theirs)), pool
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_stacked_calls_compute_what_separate_calls_do(norm):
    """G(a), G(b) (and D on reals and fakes) in one call on the stacked batch where the norm treats
    each image alone; separate calls under batch norm, whose statistics span the batch."""
    torch.manual_seed(0)
    model = CycleGAN(ngf=4, ndf=4, generator="resnet_6blocks", image_size=32, norm=norm)
    assert model.stack_batches == (norm == "instance")
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    for net in (model.G, model.D_A):
        together = model._forward_pair(net, a, b)
        torch.testing.assert_close(together[0], net(a), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(together[1], net(b), rtol=1e-5, atol=1e-5)
    assert model._forward_pair(model.G, a, None)[1] is None
