"""GANimation: each loss term against a hand computation, the update schedule, the desired
conditions, translate / interpolate / predict / export, and learning the demo's brightness
condition."""

import numpy as np
import pytest
import torch
from interrupted_run import InterruptAfter
from lightning.pytorch import Callback, Trainer, seed_everything
from torch.utils.data import DataLoader

from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.data.demo import brightness_of
from i2i_zoo.methods import GANimation
from i2i_zoo.methods.base import translate_any_size
from i2i_zoo.nets.ganimation import compose

QUIET = dict(logger=False, enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False)


def tiny(**overrides):
    options = dict(domains=["AU01_r", "AU12_r"], image_size=16, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=3)
    return GANimation(**{**options, **overrides})


def batch(n=4, conditions=2, size=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=generator) * 2 - 1
    labels, targets = torch.rand(2, n, conditions, generator=generator)
    return {"image": images, "label": labels, "target_label": targets, "path": [f"{i}.png" for i in range(n)]}


def record(model):
    """Replace the optimizer steps by a record of (name, loss, terms)."""
    calls = []
    model.optimize = lambda name, loss, terms: calls.append((name, loss, terms))
    return calls


def test_each_loss_term_matches_a_hand_computation():
    torch.manual_seed(0)
    model = tiny(train_G_every_n_iterations=1)
    calls = record(model)
    data = batch()
    real, real_cond, n = data["image"], data["label"], 4
    torch.manual_seed(1)
    model.training_step(data, 0)
    torch.manual_seed(1)  # the same draws: desired conditions, then the penalty's interpolation weights
    desired = model.desired_conditions(data)
    alpha = torch.rand(n, 1, 1, 1)

    G, D = model.G, model.D
    colour, attention = G(real, desired)
    fake = attention * real + (1 - attention) * colour
    rec_colour, rec_attention = G(fake, real_cond)
    cycled = rec_attention * fake + (1 - rec_attention) * rec_colour
    (d_real, c_real), (d_fake, c_fake) = D(real), D(fake)
    x_hat = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat)[0].sum(), x_hat)

    def tv(a):
        return sum((a[0, 0, i, j] - a[0, 0, i, j + 1]).abs() for i in range(16) for j in range(15)) + sum(
            (a[0, 0, i, j] - a[0, 0, i + 1, j]).abs() for i in range(15) for j in range(16)
        )

    expected = {
        "D": {
            "D_real": -d_real.mean(),
            "D_fake": d_fake.mean(),
            "D_cond": 4000 * ((c_real - real_cond) ** 2).mean() / n,  # MSE / batch size, as the original
        },
        "D_gp": {"D_gp": 10 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()},
        "G": {
            "G_adv": -d_fake.mean(),
            "G_cond": 4000 * ((c_fake - desired) ** 2).mean() / n,
            "G_cyc": 10 * (cycled - real).abs().mean(),
            "G_mask": 0.1 * attention.mean(),
            "G_mask_cyc": 0.1 * rec_attention.mean(),
            "G_mask_smooth": 1e-5 * sum(tv(attention[i : i + 1]) for i in range(n)),
            "G_mask_smooth_cyc": 1e-5 * sum(tv(rec_attention[i : i + 1]) for i in range(n)),
        },
    }
    assert [name for name, _, _ in calls] == ["D", "D", "G"]
    for (name, loss, terms), group in zip(calls, expected.values()):
        assert set(terms) == set(group), name
        for term, value in group.items():
            assert terms[term].item() == pytest.approx(value.item(), rel=1e-4, abs=1e-7), term
        assert loss.item() == pytest.approx(sum(group.values()).item(), rel=1e-4)


def test_terms_equal_the_original_code_formulas_bit_for_bit():
    """The WGAN terms (through GANLoss), the condition regression and the mask smoothness give
    exactly the values of the original code's expressions, so moving them changed no number."""
    torch.manual_seed(0)
    model = tiny(train_G_every_n_iterations=1, lambda_D_prob=0.7, lambda_D_cond=300.0, lambda_mask_smooth=3e-4)
    calls = record(model)
    data = batch()
    real, real_cond, n = data["image"], data["label"], 4
    torch.manual_seed(1)
    model.training_step(data, 0)
    torch.manual_seed(1)
    desired = model.desired_conditions(data)

    with torch.no_grad():
        fake = model.generate(real, desired)[0]
        (d_real, c_real), (d_fake, _) = model.D(real), model.D(fake)
        fake, attention = model.generate(real, desired)
        d_fake_g, c_fake = model.D(fake)
        attention_cyc = model.generate(fake, real_cond)[1]

    def tv(mask):
        mask = mask.float()
        return (mask[..., :, 1:] - mask[..., :, :-1]).abs().sum() + (mask[..., 1:, :] - mask[..., :-1, :]).abs().sum()

    expected = {
        "D_real": -d_real.float().mean() * 0.7,
        "D_fake": d_fake.float().mean() * 0.7,
        "D_cond": torch.nn.functional.mse_loss(c_real.float(), real_cond.float()) / n * 300.0,
        "G_adv": -d_fake_g.float().mean() * 0.7,
        "G_cond": torch.nn.functional.mse_loss(c_fake.float(), desired.float()) / n * 300.0,
        "G_mask_smooth": tv(attention) * 3e-4,
        "G_mask_smooth_cyc": tv(attention_cyc) * 3e-4,
    }
    terms = {**calls[0][2], **calls[2][2]}
    for name, value in expected.items():
        assert torch.equal(terms[name].detach(), value), name


def test_generator_is_updated_every_fifth_iteration():
    model = tiny()
    calls = record(model)
    updates = []
    for iteration in range(15):
        model.iteration = iteration
        calls.clear()
        model.training_step(batch(), iteration)
        assert [name for name, _, _ in calls][:2] == ["D", "D"]  # D (WGAN + conditions, then penalty) every time
        updates += [iteration for name, _, _ in calls if name == "G"]
    assert updates == [4, 9, 14]  # as the original's (batch + 1) % 5 == 0


def test_optimizer_steps_in_a_real_run():
    """Ten batches: D's Adam stepped twice per batch, G's on the 5th and 10th."""
    seed_everything(0)
    model = tiny()
    items = [{key: b[key][0] for key in ("image", "label", "target_label")} for b in (batch(1, seed=i) for i in range(20))]
    loader = DataLoader(items, batch_size=2)
    trainer = Trainer(max_epochs=1, limit_train_batches=10, **QUIET)
    trainer.fit(model, train_dataloaders=loader)
    steps = {name: int(next(iter(opt.state.values()))["step"]) for name, opt in zip("GD", trainer.optimizers)}
    assert model.iteration == 10 and steps == {"G": 2, "D": 20}


def test_desired_conditions_are_the_batch_targets_plus_bounded_noise():
    """The original's desired condition: another training image's (the batch's target_label,
    drawn by the datamodule from the whole set) plus U(-0.1, 0.1) noise; not the image's own, nor
    a shuffle of the batch's labels."""
    model = tiny(domains=["brightness"])
    assert model.cond_noise == 0.1
    data = batch(8, conditions=1)
    torch.manual_seed(0)
    draws = torch.stack([model.desired_conditions(data) for _ in range(500)])
    torch.manual_seed(0)
    by_hand = data["target_label"] + (torch.rand(8, 1) * 0.2 - 0.1)
    assert torch.allclose(draws[0], by_hand)
    noise = draws - data["target_label"]
    assert noise.abs().max() <= 0.1 and noise.min() < -0.09 and noise.max() > 0.09
    assert noise.mean().abs() < 0.005
    assert torch.equal(tiny(domains=["brightness"], cond_noise=0).desired_conditions(data), data["target_label"])
    wide = tiny(domains=["brightness"], cond_noise=0.3).desired_conditions(data) - data["target_label"]
    assert wide.abs().max() <= 0.3


def test_a_training_batch_without_targets_names_the_datamodule():
    model = tiny()
    data = batch()
    del data["target_label"]
    with pytest.raises(KeyError, match=r"MultiDomainDataModule's training batches hold as `target_label`"):
        model.training_step(data, 0)
    with pytest.raises(ValueError, match=r"target_label should be \(N, 2\) floats like its label, got torch.float32 of shape \(4, 1\)"):
        model.training_step({**data, "target_label": torch.zeros(4, 1)}, 0)


class _Batches(Callback):
    """The batches a run trains on: (epoch, paths, target labels)."""

    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append((trainer.current_epoch, batch["path"], batch["target_label"].clone()))


@pytest.mark.parametrize("stop", [3, 4])
def test_drop_last_run_resumed_mid_epoch_trains_on_the_same_batches_and_targets(tmp_path, write_rgb_file, stop):
    """Nine images (csv layout) in batches of 2 with drop_last, as the recipes: 4 batches an
    epoch. A run stopped after batch 3 (or the epoch's last full batch, 4) and resumed trains on the same images toward the same
    target conditions as the uninterrupted run, and ends with the same weights."""
    rows = ["path,brightness"]
    for i in range(9):
        write_rgb_file(tmp_path / "images" / f"{i}.png", np.full((16, 16, 3), 20 * i, np.uint8))
        rows.append(f"images/{i}.png,{i / 10}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")

    def fit(stop=None, ckpt_path=None):
        model, batches = tiny(domains=["brightness"], train_G_every_n_iterations=1), _Batches()
        callbacks = [batches] + ([InterruptAfter(stop, tmp_path / "stopped.ckpt")] if stop else [])
        datamodule = MultiDomainDataModule(
            root=str(tmp_path), layout="csv", domains=["brightness"], image_size=16, batch_size=2, num_workers=0,
            val_split=None, drop_last=True,
        )
        trainer = Trainer(max_epochs=2, callbacks=callbacks, default_root_dir=tmp_path,
                          **{**QUIET, "enable_checkpointing": stop is not None})
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        return model, batches.seen

    seed_everything(0)
    full, seen = fit()
    assert [len(paths) for _, paths, _ in seen] == [2] * 8 and full.iteration == 8
    seed_everything(0)
    fit(stop=stop)
    seed_everything(1)  # the resumed run must not depend on the seed it starts with
    resumed, seen_resumed = fit(ckpt_path=tmp_path / "stopped.ckpt")
    assert [(epoch, paths) for epoch, paths, _ in seen_resumed] == [(epoch, paths) for epoch, paths, _ in seen[stop:]]
    assert all(torch.equal(a, b) for (_, _, a), (_, _, b) in zip(seen_resumed, seen[stop:]))
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_original_lr_schedule():
    """The original: 20 + 10 epochs; after each epoch past the 20th the rate drops by lr/10."""
    lr, original = 1.0, []
    for epoch in range(1, 31):
        original.append(lr)
        if epoch > 20:
            lr -= 1.0 / 10
    model = tiny(lr_g=1.0)
    (optimizer, _), (schedule, _) = model.configure_optimizers()
    rates = []
    for _ in range(30):
        rates.append(optimizer.param_groups[0]["lr"])
        schedule.step()
    assert rates == pytest.approx(original)


def test_translate_takes_vectors_dicts_and_per_image_targets():
    torch.manual_seed(0)
    model = tiny()
    images = batch()["image"]
    as_list = model.translate(images, [0.3, 0.8])
    assert torch.equal(model.translate(images, {"AU12_r": 0.8, "AU01_r": 0.3}), as_list)
    assert torch.equal(model.translate(images, torch.tensor([0.3, 0.8])), as_list)
    per_image = torch.tensor([[0.3, 0.8], [0.0, 0.0], [1.0, 1.0], [0.3, 0.8]])
    out = model.translate(images, per_image)
    assert torch.allclose(out[0], as_list[0], atol=1e-6) and torch.allclose(out[3], as_list[3], atol=1e-6)
    colour, attention = model.G(images, torch.tensor([0.3, 0.8]).expand(4, -1))
    assert torch.equal(as_list, compose(images, colour, attention))
    one = tiny(domains=["brightness"])
    assert torch.equal(one.translate(images, 0.5), one.translate(images, [0.5]))


def test_translate_errors_name_what_is_wrong():
    model = tiny()
    images = batch()["image"]
    with pytest.raises(ValueError, match=r"missing: \['AU12_r'\]"):
        model.translate(images, {"AU01_r": 0.3})
    with pytest.raises(ValueError, match=r"unknown: \['AU99_r'\]"):
        model.translate(images, {"AU01_r": 0.3, "AU12_r": 0.1, "AU99_r": 1})
    with pytest.raises(ValueError, match=r"needs 2 value\(s\), one per condition \['AU01_r', 'AU12_r'\]"):
        model.translate(images, [0.3])
    with pytest.raises(ValueError, match="translate needs target="):
        model.translate(images)
    with pytest.raises(ValueError, match="holds 2 condition vectors for 4 images"):
        model.translate(images, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="takes 3-channel images, got 1"):
        model.translate(images[:, :1], [0, 0])
    with pytest.raises(ValueError, match="multiples of 4, got 15x16"):
        model.translate(images[..., :15, :], [0, 0])
    with pytest.raises(ValueError, match="model.domains is required"):
        GANimation()
    with pytest.raises(ValueError, match="model.predict_target needs 2 value"):
        tiny(predict_target=[1, 2, 3])
    with pytest.raises(ValueError, match="model.predict_steps=0"):
        tiny(predict_steps=0)
    with pytest.raises(ValueError, match=r"continuous condition vectors, \(N, 2\) floats"):
        model.training_step({"image": images, "label": torch.zeros(4, dtype=torch.int64)}, 0)


def test_interpolation_frames_run_from_start_to_end():
    torch.manual_seed(0)
    model = tiny()
    images = batch(2)["image"]
    start, end = [0.0, 1.0], {"AU01_r": 1.0, "AU12_r": 0.0}
    frames = model.interpolate(images, start, end, 5)
    assert frames.shape == (5, 2, 3, 16, 16)
    assert torch.allclose(frames[0], model.translate(images, start), atol=1e-6)
    assert torch.allclose(frames[-1], model.translate(images, [1.0, 0.0]), atol=1e-6)
    assert torch.allclose(frames[2], model.translate(images, [0.5, 0.5]), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 steps"):
        model.interpolate(images, start, end, 1)


def test_predict_writes_one_image_or_an_animation_strip():
    torch.manual_seed(0)
    data = batch(2)
    data["image"] = data["image"][..., :14, :15]  # predict pads to multiples of 4 and crops back
    single = tiny(predict_target=[1.0, 0.5])
    output = single.predict_step(data, 0)
    assert output["image"].shape == (2, 3, 14, 15) and output["path"] == data["path"]
    expected = translate_any_size(lambda x: single.translate(x, [1.0, 0.5]), data["image"], 4)
    assert torch.allclose(output["image"], expected)

    strip = tiny(predict_target=[1.0, 0.5], predict_steps=3)
    strip.load_state_dict(single.state_dict())
    output = strip.predict_step(data, 0)["image"]
    assert output.shape == (2, 3, 14, 45)  # three frames side by side
    for i, conditions in enumerate(([0.0, 0.0], [0.5, 0.25], [1.0, 0.5])):  # from all-zero conditions
        frame = translate_any_size(lambda x: single.translate(x, conditions), data["image"], 4)
        assert torch.allclose(output[..., 15 * i : 15 * (i + 1)], frame, atol=1e-6), i
    started = tiny(predict_target=[1.0, 0.5], predict_start=[1.0, 1.0], predict_steps=2)
    started.load_state_dict(single.state_dict())
    first = translate_any_size(lambda x: single.translate(x, [1.0, 1.0]), data["image"], 4)
    assert torch.allclose(started.predict_step(data, 0)["image"][..., :15], first, atol=1e-6)
    with pytest.raises(ValueError, match="predict needs model.predict_target"):
        tiny().predict_step(data, 0)


def test_export_generator_fixes_the_target():
    torch.manual_seed(0)
    model = tiny(predict_target={"AU01_r": 0.5, "AU12_r": 1.0})
    images = batch()["image"]
    assert torch.allclose(model.export_generator()(images), model.translate(images, [0.5, 1.0]))
    assert torch.allclose(model.export_generator(target=[0.1, 0.2])(images), model.translate(images, [0.1, 0.2]))
    with pytest.raises(ValueError, match="export needs a target"):
        tiny().export_generator()


def test_validation_translates_to_shuffled_conditions_and_logs_the_condition_error():
    torch.manual_seed(0)
    model = tiny()
    data = batch()
    groups = model.evaluation_images(data)
    assert list(groups) == ["target"]
    targets = data["label"].roll(1, dims=0)  # each image toward the next image's conditions
    assert torch.allclose(groups["target"].fake, model.translate(data["image"], targets))
    assert torch.equal(groups["target"].real, data["image"])
    assert set(model.visuals(data)) == {"input", "attention", "colour", "output"}
    (metrics,) = Trainer(**QUIET).validate(model, DataLoader([data], batch_size=None), verbose=False)
    with torch.no_grad():
        expected = (model.D(groups["target"].fake)[1] - targets).abs().mean()
    assert metrics["val/cond_error"] == pytest.approx(expected.item(), rel=1e-5)


def test_learns_to_move_the_demo_brightness_toward_the_target():
    """demo:levels: shapes photos darkened by a brightness in [0.2, 1] (the csv layout, one
    condition), at 32 px with small nets. Each test image is translated to a brightness far
    from its own (0.9 below 0.6, else 0.3), measured with demo.brightness_of on the central
    24x24 pixels: this short run leaves artefacts along the borders (attention stuck near 1
    there, keeping the input), which the 90th-percentile estimate would count. Test settings,
    not the paper's: G updated every 2nd iteration (5), learning rates 1e-3 (1e-4), 16 short
    epochs (800 iterations of 8 images), the last 8 decaying linearly (at a constant rate the
    result swings from epoch to epoch). Measured over seeds 0-9 with targets drawn from the whole
    training set (target_label): the error falls from 0.49 to 0.068-0.23 (0.15 for seed 0, the
    test's), correlation 0.91-0.99, except seed 3 (0.26, correlation 0.72). With the in-batch
    shuffle used before: 0.065-0.22 and 0.93-0.99, except seed 4 (0.21, 0.88) and seed 6 (0.40,
    anti-correlated: -0.87)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a short GAN run amplifies rounding: one thread rounds the same everywhere
    try:
        seed_everything(0)
        datamodule = MultiDomainDataModule(
            root="demo:levels", layout="csv", domains=["brightness"], image_size=32, batch_size=8, num_workers=0
        )
        datamodule.setup("validate")
        images = torch.cat([b["image"] for b in datamodule.val_dataloader()])
        brightness = torch.cat([b["label"] for b in datamodule.val_dataloader()])[:, 0]
        target = torch.where(brightness < 0.6, 0.9, 0.3)
        model = GANimation(
            domains=["brightness"], image_size=32, g_conv_dim=16, d_conv_dim=16, g_repeat_num=2, d_repeat_num=4,
            train_G_every_n_iterations=2, lr_g=1e-3, lr_d=1e-3, n_epochs=8, n_epochs_decay=8,
        )
        Trainer(max_epochs=16, limit_train_batches=50, limit_val_batches=0, **QUIET).fit(model, datamodule=datamodule)
        with torch.no_grad():
            outputs = model.translate(images, target[:, None])
    finally:
        torch.set_num_threads(threads)
    reached, own = brightness_of(outputs[..., 4:28, 4:28]), brightness_of(images[..., 4:28, 4:28])
    before, after = (own - target).abs().mean().item(), (reached - target).abs().mean().item()
    correlation = torch.corrcoef(torch.stack([reached, target]))[0, 1].item()
    print(f"|brightness - target| {before:.3f} -> {after:.3f}, correlation of the outputs' brightness with the targets {correlation:.3f}")
    assert after < 0.6 * before
    assert correlation > 0.9
