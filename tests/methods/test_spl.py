"""SPL methods: the loss each step optimises, the reference-transfer generator, the bicubic
baseline, options and checkpoints. Learning on the demo data: tests/methods/test_spl_learning.py."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.data import ReferencePairDataModule, SuperResolutionDataModule, read_image, to_tensor, write_image
from i2i_zoo.losses import SpatialProfileLoss
from i2i_zoo.methods import SPL, SPLReferenceTransfer, SPLSuperResolution
from i2i_zoo.nets import EDSR, ResnetGenerator, SPLResnetGenerator, SRResNet
from i2i_zoo.nets.srresnet import ShiftBatchNorm2d


def _images(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _record_steps(model):
    calls = {}
    model.optimize = lambda name, loss, terms: calls.__setitem__(name, (loss, terms))
    return calls


def test_domain_mapping_optimises_spl_against_the_target():
    torch.manual_seed(0)
    model = SPL(ngf=8, n_blocks=1, direction="BtoA")
    calls = _record_steps(model)
    a, b = _images(2, 3, 16, 16, seed=1), _images(2, 3, 16, 16, seed=2)
    model.training_step({"A": a, "B": b}, 0)
    with torch.no_grad():
        fake = model.G(b)  # BtoA: B is the source, A the target
        loss = SpatialProfileLoss()
        gp, cp = loss.gp(fake, a), loss.cp(fake, a)
    total, terms = calls["G"]
    assert list(calls) == ["G"]  # one optimizer, no discriminator
    assert terms["GP"].item() == pytest.approx(gp.item(), rel=1e-5)
    assert terms["CP"].item() == pytest.approx(cp.item(), rel=1e-5)
    assert total.item() == pytest.approx(-(gp + cp).item(), rel=1e-5)


@pytest.mark.parametrize("generator, network", [("srresnet", SRResNet), ("edsr", EDSR)])
def test_super_resolution_upscales_and_optimises_spl_against_hr(generator, network):
    torch.manual_seed(0)
    model = SPLSuperResolution(scale=4, generator=generator, num_features=8, num_blocks=1)
    assert isinstance(model.G, network)
    calls = _record_steps(model)
    lr, hr = _images(2, 3, 6, 5, seed=3), _images(2, 3, 24, 20, seed=4)
    model.training_step({"lr": lr, "hr": hr}, 0)
    with torch.no_grad():
        fake = model.G(lr)
    assert fake.shape == hr.shape
    total, terms = calls["G"]
    assert total.item() == pytest.approx(SpatialProfileLoss()(fake, hr).item(), rel=1e-5)


def test_edsr_takes_res_scale_and_its_linear_output_is_clamped_by_translate():
    model = SPLSuperResolution(scale=4, generator="edsr", num_features=8, num_blocks=2, res_scale=0.1)
    assert all(block.res_scale == 0.1 for block in model.G.body[:2])
    lr = _images(2, 3, 6, 5, seed=3)
    with torch.no_grad():
        model.G.tail[1].bias.fill_(500.0)  # EDSR works in [0, 255] and its output is linear: push it past 1
        raw, translated = model.G(lr), model.translate(lr)
    assert raw.max() > 1 and torch.equal(translated, raw.clamp(-1, 1))


def test_l1_term_is_added_with_its_weight():
    torch.manual_seed(0)
    model = SPLSuperResolution(scale=2, num_features=8, num_blocks=1, l1_weight=10)
    calls = _record_steps(model)
    lr, hr = _images(2, 3, 6, 6, seed=11), _images(2, 3, 12, 12, seed=12)
    model.training_step({"lr": lr, "hr": hr}, 0)
    with torch.no_grad():
        fake = model.G(lr)
    total, terms = calls["G"]
    assert terms["L1"].item() == pytest.approx(10 * (fake - hr).abs().mean().item(), rel=1e-5)
    assert total.item() == pytest.approx((SpatialProfileLoss()(fake, hr) + terms["L1"]).item(), rel=1e-5)


def test_reference_transfer_takes_content_from_the_source_and_colour_from_the_reference():
    torch.manual_seed(0)
    model = SPLReferenceTransfer(ngf=8, n_blocks=1)
    calls = _record_steps(model)
    source, reference = _images(2, 3, 16, 16, seed=5), _images(2, 3, 16, 16, seed=6)
    model.training_step({"source": source, "reference": reference}, 0)
    with torch.no_grad():
        out = model.translate(source, reference)
        loss = SpatialProfileLoss()
    _, terms = calls["G"]
    assert terms["GP"].item() == pytest.approx(loss.gp(out, source).item(), rel=1e-5)
    assert terms["CP"].item() == pytest.approx(loss.cp(out, reference).item(), rel=1e-5)


def test_reference_transfer_adds_the_network_output_to_the_reference_and_squashes():
    torch.manual_seed(0)
    model = SPLReferenceTransfer(ngf=8, n_blocks=1)
    source, reference = _images(1, 3, 16, 16, seed=7), _images(1, 3, 16, 16, seed=8)
    with torch.no_grad():
        residual = model.G.net(torch.cat([source, reference], 1))
        expected = torch.tanh(reference + residual)
        torch.testing.assert_close(model.translate(source, reference), expected)
        # The network's last layer has no tanh of its own: its output leaves [-1, 1] when scaled.
        model.G.net.c6.weight.mul_(100)
        assert model.G.net(torch.cat([source, reference], 1)).abs().max() > 1
        # Swapping the roles gives a different image (makeup removal runs the same network).
        assert not torch.allclose(model.translate(reference, source), model.translate(source, reference))
    with pytest.raises(ValueError, match="one shape"):
        model.translate(source, reference[..., :8])


def test_bicubic_baseline_is_pil_bicubic():
    model = SPLSuperResolution(scale=4, num_features=8, num_blocks=1)
    lr = np.random.default_rng(0).random((6, 5), dtype=np.float32)
    pil = np.asarray(Image.fromarray(lr, mode="F").resize((20, 24), Image.BICUBIC))
    ours = model.bicubic(torch.from_numpy(lr)[None, None] * 2 - 1)[0, 0].numpy()
    np.testing.assert_allclose(ours, np.clip(pil * 2 - 1, -1, 1), atol=1e-5)


def test_validation_returns_the_baseline_and_logs_the_similarities():
    model = SPLSuperResolution(scale=2, num_features=8, num_blocks=1).eval()
    logged = {}
    model.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    lr, hr = _images(2, 3, 8, 8, seed=9), _images(2, 3, 16, 16, seed=10)
    with torch.no_grad():
        groups = model.validation_step({"lr": lr, "hr": hr}, 0)
    (images,) = groups.values()
    assert list(groups) == ["x2"]
    torch.testing.assert_close(images.baseline, model.bicubic(lr))
    assert images.target is hr and images.fake.shape == hr.shape
    assert set(logged) == {"val/l1", "val/GP", "val/CP"}
    assert logged["val/GP"].item() == pytest.approx(SpatialProfileLoss().gp(images.fake, hr).item(), rel=1e-5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SPL(direction="up"), "model.direction"),
        (lambda: SPL(lr_policy="linear"), "model.lr_policy='linear' is unknown for SPL"),
        (lambda: SPL(channels_B=1), "yuv_weight"),
        (lambda: SPLSuperResolution(channels=1), "data.channels=1"),
        (lambda: SPLSuperResolution(scale=3, num_features=8, num_blocks=1), "scale"),
        (lambda: SPL(generator="unet"), "model.generator='unet' is unknown"),
        (lambda: SPLSuperResolution(generator="rcan"), "model.generator='rcan' is unknown for super-resolution"),
        (lambda: SPLSuperResolution(generator="edsr", norm="batch"), "model.norm='batch' applies to model.generator: srresnet"),
        (lambda: SPLSuperResolution(res_scale=0.1), "model.res_scale applies to model.generator: edsr"),
        (lambda: SPL(norm="batch"), "model.norm, model.init_type and model.init_gain apply to generator: resnet"),
        (lambda: SPLReferenceTransfer(init_type="xavier"), "apply to generator: resnet"),
        (lambda: SPL(init_gain=0.1), "apply to generator: resnet"),
    ],
)
def test_bad_options_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_gray_output_trains_without_the_yuv_terms():
    model = SPL(channels_A=3, channels_B=1, ngf=8, n_blocks=1, yuv_weight=0, yuv_gradient_weight=0)
    calls = _record_steps(model)
    model.training_step({"A": _images(1, 3, 8, 8), "B": _images(1, 1, 8, 8)}, 0)
    assert calls["G"][1]["CP"].item() <= 2  # RGB term only, one channel: at most 2


def test_exponential_policy_decays_by_the_rate_each_epoch():
    model = SPL(ngf=8, n_blocks=1, lr=1e-3, lr_policy="exponential", lr_decay_rate=0.5)
    optimizers, schedulers = model.configure_optimizers()
    for _ in range(3):
        schedulers[0].step()
    assert optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**3)
    assert optimizers[0].param_groups[0]["betas"] == (0.9, 0.999)
    assert SPL(ngf=8, n_blocks=1).configure_optimizers()[0][0].param_groups[0]["lr"] == 2e-4


def test_generators_default_to_the_authors():
    assert isinstance(SPL(ngf=8, n_blocks=1).G, SPLResnetGenerator)
    assert isinstance(SPLReferenceTransfer(ngf=8, n_blocks=1).G.net, SPLResnetGenerator)
    assert all(isinstance(m, ShiftBatchNorm2d) for m in SPLSuperResolution(num_features=8, num_blocks=1).G.modules()
               if isinstance(m, nn.BatchNorm2d))
    # CycleGAN's ResNet with its norm and initialisation options
    torch.manual_seed(0)
    resnet = SPL(ngf=8, n_blocks=1, generator="resnet", norm="batch", init_type="normal", init_gain=0.5).G
    assert isinstance(resnet, ResnetGenerator) and any(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    assert resnet.model[1].weight.std().item() == pytest.approx(0.5, rel=0.1)
    transfer = SPLReferenceTransfer(ngf=8, n_blocks=1, generator="resnet", init_gain=0.5).G
    assert isinstance(transfer.net, ResnetGenerator) and transfer.net.model[1].weight.std().item() == pytest.approx(0.5, rel=0.1)


def test_default_schedule_decays_by_0_96_each_epoch_of_a_fit():
    """The original's trainer: x0.96 after every epoch (staircase, decay steps = one epoch's batches)."""
    model = SPL(ngf=4, n_blocks=1)
    seen = []
    model.on_train_epoch_start = lambda: seen.append(model.optimizers().param_groups[0]["lr"])
    batches = [{"A": _images(3, 8, 8, seed=i), "B": _images(3, 8, 8, seed=10 + i)} for i in range(4)]
    _quiet_trainer(max_epochs=4, limit_val_batches=0).fit(model, torch.utils.data.DataLoader(batches, batch_size=2))
    assert seen == pytest.approx([2e-4 * 0.96**epoch for epoch in range(4)], rel=1e-12)
    assert model.optimizers().param_groups[0]["lr"] == pytest.approx(2e-4 * 0.96**4, rel=1e-12)


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, torch.from_numpy(rgb).permute(2, 0, 1) * 2 - 1)


def _quiet_trainer(**options):
    return Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, **options)


def test_predict_renders_every_source_like_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "sources" / "a.png", rng.random((16, 24, 3), dtype=np.float32))
    _write(tmp_path / "sources" / "b.png", rng.random((18, 13, 3), dtype=np.float32))  # padded to 20x16
    _write(tmp_path / "reference.png", rng.random((16, 24, 3), dtype=np.float32))  # resized for b only
    model = SPLReferenceTransfer(ngf=8, n_blocks=1).eval()
    datamodule = ReferencePairDataModule(predict_dir=str(tmp_path / "sources"), predict_reference=str(tmp_path / "reference.png"), num_workers=0)
    outputs = _quiet_trainer().predict(model, datamodule=datamodule)
    assert [tuple(o["image"].shape) for o in outputs] == [(1, 3, 16, 24), (1, 3, 18, 13)]
    source = to_tensor(read_image(tmp_path / "sources" / "a.png"))[None]
    reference = to_tensor(read_image(tmp_path / "reference.png"))[None]
    with torch.no_grad():
        expected = model.translate(source, reference)
    torch.testing.assert_close(outputs[0]["image"], expected)
    with pytest.raises(ValueError, match="data.predict_reference"):
        ReferencePairDataModule(predict_dir=str(tmp_path / "sources")).predict_dataloader()
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ReferencePairDataModule(predict_dir=str(tmp_path / "sources"), predict_reference=str(tmp_path / "missing.png")).predict_dataloader()


def test_predict_upscales_low_resolution_images(tmp_path):
    _write(tmp_path / "low" / "a.png", np.random.default_rng(1).random((7, 9, 3), dtype=np.float32))
    model = SPLSuperResolution(scale=4, num_features=8, num_blocks=1).eval()
    datamodule = SuperResolutionDataModule(predict_dir=str(tmp_path / "low"), num_workers=0)
    (output,) = _quiet_trainer().predict(model, datamodule=datamodule)
    assert output["image"].shape == (1, 3, 28, 36)


def _fit_super_resolution(root, max_epochs, ckpt_path=None):
    model = SPLSuperResolution(scale=4, num_features=8, num_blocks=1, lr=1e-3, lr_policy="exponential", lr_decay_rate=0.5)
    # LR made on the fly with random noise: the data stream's randomness must resume too.
    datamodule = SuperResolutionDataModule(
        root="demo:photos", train_lr=None, val_hr=None, degradation="noise", patch_size=16, batch_size=4, num_workers=0,
    )
    trainer = Trainer(
        max_epochs=max_epochs, limit_train_batches=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=root, plugins=[AtomicCheckpointIO()], callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    return model, trainer


def test_super_resolution_resumes_exactly(tmp_path):
    seed_everything(0)
    full, full_trainer = _fit_super_resolution(tmp_path / "full", max_epochs=2)
    seed_everything(0)
    _fit_super_resolution(tmp_path / "part", max_epochs=1)
    seed_everything(99)
    resumed, trainer = _fit_super_resolution(tmp_path / "part", max_epochs=2, ckpt_path=tmp_path / "part" / "ckpt" / "last.ckpt")
    assert resumed.iteration == full.iteration == 6
    assert trainer.optimizers[0].param_groups[0]["lr"] == full_trainer.optimizers[0].param_groups[0]["lr"] == 1e-3 * 0.25
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_bf16_mixed_step_keeps_the_loss_in_float32(demo_paired):
    model = SPL(ngf=8, n_blocks=1)
    seen = []
    model.optimize = lambda name, loss, terms: seen.append(loss.dtype)
    _quiet_trainer(precision="bf16-mixed", fast_dev_run=True).fit(model, datamodule=demo_paired(load_size=16, crop_size=16, batch_size=2))
    assert seen == [torch.float32]


@pytest.mark.parametrize("method", [SPL, SPLReferenceTransfer])
def test_checkpoints_from_before_the_generator_option_load_with_cyclegans_resnet(method, tmp_path, monkeypatch):
    """Their hyperparameters lack `generator` and their weights are CycleGAN's ResNet's: the
    method's `options_before` fills it in for `load_from_checkpoint` and the command line."""
    from i2i_zoo.cli import run
    from i2i_zoo.convert import save_checkpoint

    torch.manual_seed(0)
    old = method(ngf=8, n_blocks=1, generator="resnet")
    path = save_checkpoint(old, tmp_path / "old.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["hyper_parameters"]["generator"]
    torch.save(checkpoint, path)

    loaded = method.load_from_checkpoint(path, weights_only=True)
    assert loaded.hparams.generator == "resnet"
    for name, value in old.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)

    if method is SPL:  # and through the CLI, which rebuilds the model from the stored hyperparameters
        rng = np.random.default_rng(0)
        _write(tmp_path / "in" / "a.png", rng.random((16, 16, 3), dtype=np.float32))
        monkeypatch.chdir(tmp_path)
        run(["translate", str(path), str(tmp_path / "in"), str(tmp_path / "out")])
        written = to_tensor(read_image(tmp_path / "out" / "a.png"))
        with torch.no_grad():
            expected = old.eval().translate(to_tensor(read_image(tmp_path / "in" / "a.png"))[None])[0]
        assert (written - expected).abs().max() <= 2 / 255  # 8-bit file
