"""BiL-GAN's two phases: what each trains and freezes (weights and optimizer state), exact resume on
either side of the switch, the resolutions translate gives, the metric namespace, the ablations."""


import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from interrupted_run import InterruptAfter
from torch.utils.data import DataLoader

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.losses import inherited_d_loss, teacher_scores
from i2i_zoo.methods import METHODS
from i2i_zoo.methods.bilgan import BiLGAN
from i2i_zoo.nets.bilgan import downsample

ENTRY = METHODS["BiLGAN"]


def batches(n_batches: int, uv: bool = False) -> list[dict]:
    samples = []
    for k in range(n_batches):
        batch = ENTRY.make_batch(2, torch.Generator().manual_seed(k))
        if uv:
            batch["uv"] = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(100 + k)) * 2 - 1
        samples += [{key: value[i] for key, value in batch.items()} for i in range(2)]
    return samples


def quiet(**options) -> Trainer:
    return Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   limit_val_batches=0, log_every_n_steps=1, **options)  # fmt: skip


def snapshot(model: BiLGAN, trainer: Trainer | None = None) -> dict[str, dict[str, torch.Tensor]]:
    names = [name for name in ("G1", "G2", "T", "D", "D_uv") if getattr(model, name) is not None]
    nets = {name: {k: v.clone() for k, v in getattr(model, name).state_dict().items()} for name in names}
    if trainer is not None:  # Adam's moments of T's and D^uv's parameters
        optimizer = trainer.optimizers[1]
        for name in ("T", "D_uv"):
            nets[f"{name}_adam"] = {
                str(i): torch.cat([s.flatten() for s in optimizer.state[p].values() if torch.is_tensor(s)]) if p in optimizer.state else torch.zeros(0)
                for i, p in enumerate(getattr(model, name).parameters())
            }
    return nets


def changed(before: dict, after: dict, name: str) -> bool:
    return any(not torch.equal(before[name][k], after[name][k]) for k in before[name])


def test_phase_1_trains_the_teachers_and_phase_2_freezes_them():
    """One run of 4 iterations, the switch at 2: snapshots before the first, at the switch and at
    the end, Adam's moments included."""
    seed_everything(0)
    model = ENTRY.build(uv_channels=3, phase2_start=2)
    snapshots = {0: snapshot(model)}

    class AtTheSwitch(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if pl_module.iteration == 2:
                snapshots[2] = snapshot(pl_module, trainer)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 3:  # the last phase-2 batch
                snapshots["training"] = {name: pl_module.get_submodule(name).training for name in ("T", "D_uv")}

    trainer = quiet(max_steps=8, callbacks=[AtTheSwitch()])
    trainer.fit(model, DataLoader(batches(4, uv=True), batch_size=2))
    assert model.iteration == 4
    start, switch, end = snapshots[0], snapshots[2], snapshot(model, trainer)
    assert changed(start, switch, "G1") and changed(start, switch, "T") and changed(start, switch, "D_uv")
    assert not changed(start, switch, "G2") and not changed(start, switch, "D")
    for name in ("G1", "G2", "D"):
        assert changed(switch, end, name), name
    for name in ("T", "D_uv", "T_adam", "D_uv_adam"):
        assert not changed(switch, end, name), name
    assert switch["T_adam"]["0"].numel() > 0  # phase 1 stepped them: there is a state to keep
    assert snapshots["training"] == {"T": False, "D_uv": False}  # teachers held in eval mode
    assert {"train/uv_real", "train/G_uv", "train/D_inherited"} <= set(trainer.logged_metrics)


def test_the_first_phase_2_step_is_the_inherited_loss_of_the_frozen_teacher():
    seed_everything(0)
    model = ENTRY.build(phase2_start=1)
    logged = {}

    class Capture(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if pl_module.iteration == 1:
                torch.manual_seed(7)
                logged["state"] = {k: v.clone() for k, v in pl_module.state_dict().items()}

    trainer = quiet(max_steps=4, callbacks=[Capture()])
    data = batches(2)
    trainer.fit(model, DataLoader(data, batch_size=2))
    # Recompute the D step of iteration 1 from the weights before it, with the same draws.
    reference = ENTRY.build(phase2_start=1)
    reference.load_state_dict(logged["state"])
    x, labels = torch.stack([d["image"] for d in data[2:]]), torch.stack([d["label"] for d in data[2:]])
    torch.manual_seed(7)
    target = labels[torch.randperm(2)]
    with torch.no_grad():
        fake = reference.translator(enhancing=True)(x, reference.label_vectors(target))
        teacher = teacher_scores(reference.T(downsample(x, 2))[0], "lsgan")
        expected = inherited_d_loss(reference.D(x)[0], reference.D(fake)[0], teacher, "lsgan")
    torch.testing.assert_close(trainer.logged_metrics["train/D_inherited"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stop", [2, 4])  # before and after the switch at 3
def test_resume_on_either_side_of_the_switch_is_exact(tmp_path, stop):
    def fit(callbacks=(), ckpt_path=None):
        model = ENTRY.build(phase2_start=3, ema_decay=0.5)
        trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                          max_epochs=2, limit_train_batches=3, callbacks=list(callbacks), enable_checkpointing=bool(callbacks),
                          plugins=[AtomicCheckpointIO()])  # fmt: skip
        trainer.fit(model, datamodule=ENTRY.build_datamodule(), ckpt_path=ckpt_path)
        return model

    seed_everything(0)
    full = fit()
    seed_everything(0)
    fit([InterruptAfter(stop, tmp_path / "stop.ckpt")])
    seed_everything(99)
    resumed = fit(ckpt_path=tmp_path / "stop.ckpt")
    assert full.iteration == resumed.iteration == 6
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_translate_gives_g1s_resolution_before_the_switch_and_the_full_one_after():
    model = ENTRY.build(phase2_start=3).eval()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert model.translate(images, "red").shape == (2, 3, 16, 16)
        assert model.metric_namespace == ""
        model.iteration = 3
        assert model.translate(images, "red").shape == (2, 3, 32, 32)
        assert model.metric_namespace == "phase2/"
        exported = model.export_generator("red")
        torch.testing.assert_close(exported(images), model.translate(images, "red"))
        groups = model.evaluation_images({"image": images, "label": torch.tensor([0, 2])})
    assert set(groups) == {"red", "green", "blue", "yellow"}
    assert groups["blue"].fake.shape == (2, 3, 32, 32) and torch.equal(groups["blue"].labels, torch.tensor([2, 2]))
    assert torch.equal(groups["blue"].real, images[1:])  # the real images of that domain
    odd = torch.rand(1, 3, 20, 28) * 2 - 1  # padded to 32 x 32 for the networks, cropped back
    model.predict_target = "red"
    with torch.no_grad():
        assert model.predict_step({"image": odd}, 0)["image"].shape == (1, 3, 20, 28)
        model.iteration = 0
        assert model.predict_step({"image": odd}, 0)["image"].shape == (1, 3, 10, 14)


def test_single_phase_trains_the_full_network_with_d_alone():
    seed_everything(0)
    model = ENTRY.build(single_phase=True)
    start = snapshot(model)
    trainer = quiet(max_steps=2)
    trainer.fit(model, DataLoader(batches(1), batch_size=2))
    after = snapshot(model)
    assert changed(start, after, "G1") and changed(start, after, "G2") and changed(start, after, "D")
    assert not changed(start, after, "T")
    assert {"train/D_cls", "train/G_mi"} <= set(trainer.logged_metrics)


def test_ordinary_regularisation_keeps_the_teachers_training():
    seed_everything(0)
    model = ENTRY.build(phase2_start=1, freeze_teachers=False, inherited_loss=False)
    trainer = quiet(max_steps=2)
    trainer.fit(model, DataLoader(batches(1), batch_size=2))
    start = snapshot(model)
    trainer = quiet(max_steps=4)
    trainer.fit(model, DataLoader(batches(2), batch_size=2))
    assert changed(start, snapshot(model), "T")
    assert {"train/D_real", "train/T_cls"} <= set(trainer.logged_metrics)


def test_options_and_missing_weights_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="must be 2, 4 or 8 times model.low_size"):
        ENTRY.build(low_size=12)
    with pytest.raises(ValueError, match="needs model.identity_encoder"):
        ENTRY.build(identity_encoder=None)
    with pytest.raises(ValueError, match="model.importance_input='both' is unknown"):
        ENTRY.build(importance_input="both")
    monkeypatch.delenv("I2I_ZOO_IDENTITY_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = ENTRY.build(identity_encoder="timm:test_resnet", identity_weights=str(tmp_path / "face.pth"))
    with pytest.raises(FileNotFoundError, match="model.identity_weights"):
        quiet(max_steps=2).fit(model, DataLoader(batches(1), batch_size=2))
    assert model.iteration == 0
    model = ENTRY.build(uv_channels=3)
    with pytest.raises(KeyError, match="no uv map: set data.uv_dir"):
        quiet(max_steps=2).fit(model, DataLoader(batches(1), batch_size=2))


def test_after_the_switch_only_phase_2_scores_are_on_show():
    seed_everything(0)
    model = ENTRY.build(phase2_start=2)
    shown = []

    class AfterEachValidation(Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            shown.append(set(trainer.callback_metrics))

    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      max_epochs=2, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0,
                      callbacks=[AfterEachValidation()])  # fmt: skip
    # Validations after iteration 1 (phase 1) and 2 (phase 2).
    trainer.fit(model, datamodule=ENTRY.build_datamodule(val_split="test"))
    assert "val/l1_red" in shown[0]  # as phase 1's validation left it
    assert "val/l1_red" not in trainer.callback_metrics and "val/phase2/l1_red" in trainer.callback_metrics


def test_a_phase_2_monitor_saves_only_after_the_switch(tmp_path):
    """Lightning's ModelCheckpoint stops the run at the first phase-1 validation, where the
    phase-2 metric does not exist yet; PhaseCheckpoint waits for it."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    from i2i_zoo.callbacks import PhaseCheckpoint

    def fit(checkpoint):
        seed_everything(0)
        trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, max_epochs=3,
                          limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0, callbacks=[checkpoint])  # fmt: skip
        trainer.fit(ENTRY.build(phase2_start=2), datamodule=ENTRY.build_datamodule(val_split="test"))

    with pytest.raises(MisconfigurationException, match="val/phase2/l1_red"):
        fit(ModelCheckpoint(dirpath=tmp_path / "plain", monitor="val/phase2/l1_red"))
    fit(PhaseCheckpoint(dirpath=tmp_path / "phase", monitor="val/phase2/l1_red", filename="{epoch}", save_top_k=-1))
    assert sorted(p.name for p in (tmp_path / "phase").iterdir()) == ["epoch=1.ckpt", "epoch=2.ckpt"]  # phase 2's validations


def test_the_full_resolution_translator_exports_with_dynamic_sides(tmp_path):
    import onnxruntime

    from i2i_zoo.export import export_generator_file

    torch.manual_seed(0)
    model = ENTRY.build(phase2_start=1)
    model.iteration = 1
    torch.nn.init.normal_(model.G2.tail[0].weight, std=0.05)  # a trained G2's residual is not zero
    path = export_generator_file(model, tmp_path / "bilgan.onnx", "onnx", target="green")
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exported = torch.from_numpy(session.run(["translated"], {"image": x.numpy()})[0])
    with torch.no_grad():
        expected = model.eval().translate(x, "green")
    assert exported.shape == (2, 3, 48, 64)
    assert (exported - expected).abs().max() < 1e-4
