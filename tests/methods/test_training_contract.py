"""The mechanics of the base method: optimizer specs and schedules, accumulation, phases, moving
averages, the run length in iterations and the finiteness checks."""

import re

import pytest
import torch
from lightning.pytorch import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from phased_method import PHASED, PhasedMethod
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.methods import METHODS, I2IMethod, OptimizerSpec, Phase, Schedule
from i2i_zoo.methods.ema import ema_copy, update_ema
from i2i_zoo.methods.optimizers import StarGANDecay, split_batch
from i2i_zoo.methods.phases import check_phases



class _Regression(I2IMethod):
    """A linear map trained by MSE (no batch statistics), one optimizer with `accumulation`."""

    def __init__(self, accumulation: int = 1):
        super().__init__()
        self.G = nn.Linear(4, 3)
        self.accumulation = accumulation

    def optimizer_specs(self):
        return {"G": OptimizerSpec(self.G.parameters(), 0.1, "torch.optim.SGD", accumulation=self.accumulation)}

    def training_step(self, batch, batch_idx):
        def loss(micro_batch):
            x, y = micro_batch
            mse = (self.G(x) - y).pow(2).mean()
            return mse, {"mse": mse}

        self.optimize("G", loss, batch=batch)


@pytest.mark.parametrize("accumulation", [2, 4])
def test_accumulated_micro_batches_equal_one_step_on_the_whole_batch(quiet_trainer, accumulation):
    generator = torch.Generator().manual_seed(0)
    data = [(torch.randn(4, generator=generator, dtype=torch.float64), torch.randn(3, generator=generator, dtype=torch.float64)) for _ in range(8)]

    def train(parts):
        torch.manual_seed(0)
        model = _Regression(parts).double()
        quiet_trainer(max_epochs=1, precision="64-true", log_every_n_steps=1).fit(model, DataLoader(data, batch_size=8))
        return model

    whole, accumulated = train(1), train(accumulation)
    assert accumulated.iteration == whole.iteration == 1
    assert not torch.equal(whole.G.weight, _Regression().double().G.weight)
    for a, b in zip(whole.parameters(), accumulated.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_accumulation_needs_a_function_and_equal_parts(quiet_trainer):
    class Wrong(_Regression):
        def training_step(self, batch, batch_idx):
            x, y = batch
            self.optimize("G", (self.G(x) - y).pow(2).mean())

    data = [(torch.randn(4), torch.randn(3)) for _ in range(6)]
    with pytest.raises(ValueError, match="optimizer 'G' accumulates 2 micro-batches: pass optimize\\(\\) a function"):
        quiet_trainer(max_epochs=1).fit(Wrong(2), DataLoader(data, batch_size=6))
    with pytest.raises(ValueError, match="a batch of 6 does not split into 4 equal micro-batches"):
        quiet_trainer(max_epochs=1).fit(_Regression(4), DataLoader(data, batch_size=6))


def test_split_batch_cuts_tensors_and_per_sample_lists():
    batch = {"A": torch.arange(6).view(6, 1), "path": list("abcdef"), "pair": (torch.arange(6), torch.zeros(6))}
    parts = split_batch(batch, 3)
    assert [p["A"].flatten().tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    assert [p["path"] for p in parts] == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert parts[2]["pair"][0].tolist() == [4, 5]


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[name], b[name]) for name in a)


def _phase_run(quiet_trainer, frozen_mode: str, iterations: int):
    """PhasedMethod (switch at 2) trained `iterations` batches; the G and adaptor states and the
    optimizer states after each iteration."""
    seed_everything(0)
    model = PhasedMethod(switch=2, frozen_mode=frozen_mode)
    history = []

    class Snapshots(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            g_optimizer, d_optimizer = trainer.optimizers
            history.append({
                "G": _snapshot(pl_module.G),
                "adaptor": _snapshot(pl_module.adaptor),
                "G_modes": {m.training for m in pl_module.G.modules()},
                "adaptor_training": pl_module.adaptor.training,
                "G_optimizer": {k: v.clone() for p in g_optimizer.state.values() for k, v in p.items()},
                "adaptor_optimizer": [
                    {k: v.clone() for k, v in d_optimizer.state[p].items()} for p in pl_module.adaptor.parameters()
                ],
            })

    datamodule = PHASED.build_datamodule()
    quiet_trainer(max_epochs=1, limit_train_batches=iterations, callbacks=[Snapshots()]).fit(model, datamodule=datamodule)
    return model, history


def test_a_frozen_network_in_eval_mode_keeps_weights_buffers_and_optimizer_state(quiet_trainer):
    model, history = _phase_run(quiet_trainer, "eval", iterations=4)
    warmup, joint = history[:2], history[2:]
    # Warm-up: G frozen in eval mode, weights and batch-norm statistics unchanged, its optimizer never stepped.
    assert all(h["G_modes"] == {False} for h in warmup)
    assert _equal(warmup[0]["G"], warmup[1]["G"])
    assert all(h["G_optimizer"] == {} for h in warmup)
    # The adaptor, in D's optimizer with its own rate, trains during warm-up.
    assert not _equal(warmup[0]["adaptor"], warmup[1]["adaptor"])
    # Joint: G trains; the adaptor is frozen in eval mode, its weights and Adam state kept while D steps.
    assert all(h["G_modes"] == {True} for h in joint)
    assert not _equal(warmup[1]["G"], joint[0]["G"]) and not _equal(joint[0]["G"], joint[1]["G"])
    assert not any(h["adaptor_training"] for h in joint)
    assert _equal(warmup[1]["adaptor"], joint[1]["adaptor"])
    for before, after in zip(warmup[1]["adaptor_optimizer"], joint[1]["adaptor_optimizer"]):
        assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert model.current_phase().name == "joint"


def test_a_frozen_network_in_train_mode_keeps_weights_but_moves_its_statistics(quiet_trainer):
    _, history = _phase_run(quiet_trainer, "train", iterations=2)
    first, second = history
    assert first["G_modes"] == {True}
    weights = {k: v for k, v in first["G"].items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, second["G"][k]) for k, v in weights.items())
    assert any(not torch.equal(first["G"][k], second["G"][k]) for k in first["G"] if "running_mean" in k)


def test_phases_are_checked():
    model = PhasedMethod()
    with pytest.raises(ValueError, match="phases must start at iteration 0"):
        check_phases([Phase("late", 3)], model)
    with pytest.raises(ValueError, match="phase 'p' freezes 'H', which PhasedMethod does not have"):
        check_phases([Phase("p", 0, {"H": "eval"})], model)
    with pytest.raises(ValueError, match="a frozen network's mode is one of"):
        Phase("p", 0, {"G": "frozen"})


def test_update_ema_averages_parameters_and_float_buffers_and_copies_counters():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
    average = ema_copy(network)
    with torch.no_grad():
        for tensor in [*network.parameters(), network[1].running_mean]:
            tensor.add_(1.0)
    network[1].num_batches_tracked.fill_(7)
    expected = {name: 0.9 * value + 0.1 * network.state_dict()[name] for name, value in average.state_dict().items() if value.is_floating_point()}
    update_ema(average, network, 0.9)
    for name, value in expected.items():
        torch.testing.assert_close(average.state_dict()[name], value)
    assert average[1].num_batches_tracked.item() == 7
    assert not any(p.requires_grad for p in average.parameters())
    update_ema(average, network, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(average.state_dict().values(), network.state_dict().values()))


def test_ema_copies_before_ema_start_then_averages(quiet_trainer):
    seed_everything(0)
    copies = []

    class Compare(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            copies.append(all(torch.equal(a, b) for a, b in zip(pl_module.G.parameters(), pl_module.G_ema.parameters())))

    model = PhasedMethod(switch=1, ema_decay=0.5, ema_start=2)  # G frozen in iteration 0
    quiet_trainer(max_epochs=1, limit_train_batches=4, callbacks=[Compare()]).fit(model, datamodule=PHASED.build_datamodule())
    assert copies == [True, True, False, False]
    with pytest.raises(RuntimeError, match="call self.init_ema\\(\\) at the end of __init__"):
        class Forgot(PhasedMethod):
            def init_ema(self):
                pass

        quiet_trainer(max_epochs=1, limit_train_batches=1).fit(Forgot(ema_decay=0.5), datamodule=PHASED.build_datamodule())


def test_max_iterations_ends_the_run_mid_epoch(quiet_trainer):
    model = PhasedMethod(max_iterations=3)
    trainer = quiet_trainer(max_epochs=5, limit_train_batches=2)
    trainer.fit(model, datamodule=PHASED.build_datamodule())
    assert model.iteration == 3


def test_schedules_by_name_and_class_path():
    parameter = nn.Parameter(torch.zeros(1))

    def rates(schedule, steps):
        optimizer = torch.optim.SGD([parameter], lr=1.0)
        scheduler = schedule.build(optimizer)
        values = []
        for _ in range(steps):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return values

    assert rates(Schedule("constant"), 3) == [1.0, 1.0, 1.0]
    assert rates(Schedule("linear", {"n_constant": 2, "n_decay": 3}), 5) == pytest.approx([1, 1, 0.75, 0.5, 0.25])
    assert rates(Schedule("exponential", {"rate": 0.5}), 3) == pytest.approx([1, 0.5, 0.25])
    assert rates(Schedule("stargan", {"num_iters": 4, "num_iters_decay": 2, "lr_update_step": 1}, "iteration"), 4) == pytest.approx(
        [StarGANDecay(4, 2, 1)(i) for i in range(4)])
    cosine = Schedule("torch.optim.lr_scheduler.CosineAnnealingLR", {"T_max": 2})
    assert rates(cosine, 3) == pytest.approx([1.0, 0.5, 0.0])
    factor = Schedule("i2i_zoo.methods.optimizers.LinearDecay", {"n_constant": 1, "n_decay": 1})
    assert rates(factor, 2) == pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError, match="schedule 'cosine' is unknown"):
        Schedule("cosine")
    with pytest.raises(ValueError, match="schedule unit 'batch' is unknown"):
        Schedule("constant", unit="batch")
    with pytest.raises(TypeError):
        Schedule("linear", {"n_constant": 1})
    with pytest.raises(ValueError, match="schedule class 'no.such.Schedule' cannot be imported"):
        Schedule("no.such.Schedule")


def test_a_schedule_advances_for_an_optimizer_that_did_not_step(quiet_trainer):
    """StarGAN's rule by iteration: G, which steps every n_critic-th iteration, decays on every one."""
    entry = METHODS["StarGAN"]
    model = entry.build(n_critic=3, num_iters=4, num_iters_decay=4, lr_update_step=1)
    trainer = quiet_trainer(max_epochs=-1, log_every_n_steps=1)
    trainer.fit(model, datamodule=entry.build_datamodule())
    assert model.iteration == 4  # num_iters is the run's length
    g_optimizer = trainer.optimizers[0]
    assert g_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * StarGANDecay(4, 4, 1)(4))
    assert trainer.logged_metrics["lr-G"] == pytest.approx(1e-4 * StarGANDecay(4, 4, 1)(3))


def _non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]


def test_diverged_batch_norm_statistics_stop_training_before_a_checkpoint(quiet_trainer, tmp_path):
    """A huge generator rate leaves every loss finite while G's batch-norm running variances
    overflow: training stops naming the buffer and the iteration, before a checkpoint holds them."""
    seed_everything(0)
    entry = METHODS["Pix2Pix"]
    folder = tmp_path / "checkpoints"
    checkpoints = ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=-1, every_n_train_steps=1)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=6, log_every_n_steps=50, callbacks=[checkpoints],
                            enable_checkpointing=True, plugins=[AtomicCheckpointIO()])
    with pytest.raises(FloatingPointError, match=r"buffer G\.\S*running_var of Pix2Pix is non-finite .* at iteration (\d+)") as error:
        trainer.fit(entry.build(lr_g=1e6), datamodule=entry.build_datamodule())
    found = int(re.search(r"at iteration (\d+)", str(error.value)).group(1))
    assert found >= 1, "the first iteration diverged already: nothing shows a checkpoint was refused"
    written = sorted(folder.iterdir())
    assert written and not [p for p in written if p.name.startswith(".")]
    for path in written:
        checkpoint = torch.load(path, weights_only=True)
        assert not _non_finite(checkpoint["state_dict"]), path.name
    # last.ckpt is the state after the iterations before the one found non-finite.
    assert torch.load(folder / "last.ckpt", weights_only=True)["i2i_zoo"]["iteration"] == found


class _PoisonBuffer(Callback):
    """Sets a buffer of G to inf when training batch `iteration` starts (in train mode batch norm
    normalises with batch statistics, so the losses stay finite)."""

    def __init__(self, name: str, iteration: int):
        self.name, self.iteration = name, iteration

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iteration == self.iteration:
            pl_module.get_buffer(self.name).fill_(float("inf"))


@pytest.mark.parametrize("log_every_n_steps, found", [(1, 1), (50, 2)], ids=["logged-iteration", "epoch-end"])
def test_a_non_finite_buffer_stops_training_naming_it(quiet_trainer, log_every_n_steps, found):
    """Weights are checked when losses are: on logged iterations, else at the end of the epoch."""
    entry = METHODS["Pix2Pix"]
    model = entry.build()
    name = next(n for n, _ in model.named_buffers() if n.startswith("G.") and n.endswith("running_mean"))
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=3, log_every_n_steps=log_every_n_steps,
                            callbacks=[_PoisonBuffer(name, iteration=1)])
    message = rf"buffer {re.escape(name)} of Pix2Pix is non-finite \(\d+ of \d+ values\) at iteration {found}\b"
    with pytest.raises(FloatingPointError, match=message):
        trainer.fit(model, datamodule=entry.build_datamodule())
