"""The training contract, checked on every registered method (i2i_zoo.methods.METHODS) and on a
two-phase test method: one training step on tiny networks (and each registered edge setting), a
checkpoint written mid-epoch resumed bit for bit with a moving-average copy (across the phase
switch for the two-phase method), and the shapes of `translate` and `export_generator` (of
`generate`, for a method that declares `generates = True`: it translates nothing)."""

import inspect
import re

import pytest
import torch
from lightning.pytorch import seed_everything
from interrupted_run import InterruptAfter
from phased_method import PHASED
from torch.utils.data import DataLoader

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.methods import METHODS

ENTRIES = [*METHODS.values(), PHASED]
STEP_CASES = [(entry, {}) for entry in ENTRIES] + [(entry, edge) for entry in ENTRIES for edge in entry.edge_cases]
# (method, iteration the interrupted run stops after): mid second epoch of 3 batches; for the
# phased method (switch at 3) before and after the switch.
RESUME_CASES = [(entry, 4) for entry in METHODS.values()] + [(PHASED, 2), (PHASED, 4)]



def _samples(entry, n: int) -> list[dict]:
    batch = entry.make_batch(n, torch.Generator().manual_seed(0))
    return [{key: value[i] for key, value in batch.items()} for i in range(n)]


def _parameters(optimizer) -> list[torch.nn.Parameter]:
    return [p for group in optimizer.param_groups for p in group["params"]]


@pytest.mark.parametrize(
    "entry, options", STEP_CASES, ids=[f"{entry.name}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'tiny'}" for entry, o in STEP_CASES]
)
def test_one_training_step(quiet_trainer, entry, options):
    seed_everything(0)
    model = entry.build(**options)
    before = {id(p): p.detach().clone() for p in model.parameters()}
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=DataLoader(_samples(entry, 2), batch_size=2))

    assert model.iteration == 1
    names = list(model.optimizer_specs())
    stepped = [name for name, opt in zip(names, trainer.optimizers) if any(not torch.equal(p, before[id(p)]) for p in _parameters(opt))]
    if options:  # an edge setting may skip an update (StarGAN's G with n_critic 2)
        assert stepped, f"{entry.name} with {options} updated nothing"
    else:  # tiny settings update every network each iteration, but what a phase freezes
        trainable = [name for name, opt in zip(names, trainer.optimizers) if any(p.requires_grad for p in _parameters(opt))]
        assert stepped == trainable
    for name in names:
        assert f"lr-{name}" in trainer.logged_metrics, f"the learning rate of {name} is not logged"
    for name in stepped:
        assert f"loss_{name}" in trainer.progress_bar_metrics, f"the total loss of {name} is not on the progress bar"
    assert all(torch.isfinite(value).all() for value in trainer.logged_metrics.values())


@pytest.mark.parametrize("entry, stop", RESUME_CASES, ids=[f"{entry.name}-after{stop}" for entry, stop in RESUME_CASES])
def test_midepoch_checkpoint_resumes_bit_for_bit(quiet_trainer, tmp_path, entry, stop):
    def fit(callbacks=(), ckpt_path=None):
        model = entry.build(ema_decay=0.5, ema_start=1)
        trainer = quiet_trainer(
            max_epochs=2, limit_train_batches=3, callbacks=list(callbacks), enable_checkpointing=bool(callbacks),
            plugins=[AtomicCheckpointIO()],
        )
        trainer.fit(model, datamodule=entry.build_datamodule(), ckpt_path=ckpt_path)
        return model

    seed_everything(0)
    full = fit()
    checkpoint = tmp_path / "interrupted.ckpt"
    seed_everything(0)
    interrupted = fit([InterruptAfter(stop, checkpoint)])
    assert interrupted.iteration == stop
    seed_everything(1234)  # the resumed run must not depend on the seed it starts with
    resumed = fit(ckpt_path=checkpoint)

    assert resumed.iteration == full.iteration == 6
    assert any(key.endswith("_ema") for key in {name.split(".")[0] for name in full.state_dict()})
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert list(full_state) == list(resumed_state)
    for name, value in full_state.items():
        assert torch.equal(value, resumed_state[name]), name


TRANSLATING = [entry for entry in ENTRIES if not entry.cls.generates]
GENERATING = [entry for entry in ENTRIES if entry.cls.generates]


@pytest.mark.parametrize("entry", TRANSLATING, ids=[entry.name for entry in TRANSLATING])
def test_translate_and_export_shapes(entry):
    torch.manual_seed(0)
    model = entry.build(ema_decay=0.5).eval()
    images, conditions = entry.translate_inputs(entry.make_batch(2, torch.Generator().manual_seed(1)))
    def translate():
        torch.manual_seed(2)  # a method may draw random numbers (DeepI2I's latent z): the same ones each call
        return model.translate(images, **conditions)

    with torch.no_grad():
        output = translate()
    height, width = images.shape[-2] * entry.scale, images.shape[-1] * entry.scale
    assert output.shape == (2, 3, height, width)

    network = model.export_generator(**entry.export_conditions)
    inputs = torch.rand(1, network.in_channels, *images.shape[-2:]) * 2 - 1
    with torch.no_grad():
        assert network(inputs).shape == (1, 3, height, width)

    # With ema_decay the moving averages translate: changing them changes the output, changing
    # the trained generators does not.
    with torch.no_grad():
        for name in model.generator_names:
            for p in getattr(model, name).parameters():
                p.add_(0.5)
        assert torch.equal(translate(), output)
        for name in model.generator_names:
            for p in getattr(model, f"{name}_ema").parameters():
                p.add_(0.5)
        assert not torch.equal(translate(), output)


@pytest.mark.parametrize("entry", GENERATING, ids=[entry.name for entry in GENERATING])
def test_generate_shapes_and_the_average_generates(entry):
    """A method that generates (`generates = True`) has no translate, input_channels or
    export_generator: `generate(labels)` gives an image per label, from the moving averages
    where the method keeps them."""
    torch.manual_seed(0)
    model = entry.build(ema_decay=0.5).eval()
    labels, conditions = entry.translate_inputs(entry.make_batch(2, torch.Generator().manual_seed(1)))
    z = torch.randn(2, model.G.dim_z)
    with torch.no_grad():
        output = model.generate(labels, z, **conditions)
        assert output.shape == (2, 3, model.G.resolution, model.G.resolution)
        for name in model.generator_names:
            for p in getattr(model, name).parameters():
                p.add_(0.5)
        assert torch.equal(model.generate(labels, z, **conditions), output)
        for name in model.generator_names:
            for p in getattr(model, f"{name}_ema").parameters():
                p.add_(0.5)
        assert not torch.equal(model.generate(labels, z, **conditions), output)


TRANSLATING_METHODS = [entry for entry in METHODS.values() if not entry.cls.generates]


@pytest.mark.parametrize("entry", TRANSLATING_METHODS, ids=[entry.name for entry in TRANSLATING_METHODS])
def test_input_channels_are_what_predict_translates(entry):
    """predict converts every image to `input_channels()` channels: predict_step takes that
    count and refuses the other (1 or 3)."""
    # The one export condition (StarGAN's target, DeepI2I's target_class) is predict's target.
    targets = {"predict_target": next(iter(entry.export_conditions.values()))} if "predict_target" in entry.cls.inference_options else {}
    model = entry.build(**targets).eval()
    channels = model.input_channels()
    assert channels in (1, 3)

    def batch(count: int) -> dict:
        image = torch.rand(1, count, 12, 12) * 2 - 1
        return {"image": image, "reference": image.clone(), "path": ["x.png"]}  # reference transfer takes one

    assert model.predict_step(batch(channels), 0)["image"].shape[:2] == (1, 3)
    with pytest.raises(ValueError, match=f"takes {channels}-channel images, got {4 - channels}|translates {channels}-channel"):
        model.predict_step(batch(4 - channels), 0)


@pytest.mark.parametrize("method", ["Pix2Pix", "CycleGAN", "SPL"])
def test_input_channels_follow_the_direction(method):
    """Gray A, colour B: the direction chosen for inference decides what predict converts to."""
    # CycleGAN's identity term and SPL's YUV profile need colour on both sides.
    colour_only = {"CycleGAN": {"lambda_identity": 0}, "SPL": {"yuv_weight": 0, "yuv_gradient_weight": 0}}
    options = {"channels_A": 1, "channels_B": 3, **colour_only.get(method, {})}
    for direction, channels in (("AtoB", 1), ("BtoA", 3)):
        assert METHODS[method].build(direction=direction, **options).input_channels() == channels


def _numeric_options(entry) -> set[str]:
    return {name for name, p in inspect.signature(entry.cls).parameters.items() if type(p.default) in (int, float)}


@pytest.mark.parametrize("entry", METHODS.values(), ids=[entry.name for entry in METHODS.values()])
def test_rates_weights_betas_and_update_intervals_out_of_range_name_the_option(entry):
    """Checked when the method is built (under the CLI: when the configuration is instantiated),
    never left to torch or to a diverging run."""
    numeric = _numeric_options(entry)
    rates = sorted(name for name in numeric if name == "lr" or name.startswith("lr_"))
    weights = sorted(name for name in numeric if name.startswith("lambda") or name.endswith("_weight"))
    intervals = sorted(name for name in numeric if name == "n_critic" or name.endswith("_every_n_iterations"))
    assert rates and weights, f"{entry.name} has no learning rate or loss weight option"

    def refused(options: dict, message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            entry.build(**options)

    for name in rates:
        refused({name: -0.1}, f"model.{name}=-0.1 must be > 0")
        refused({name: 0}, f"model.{name}=0 must be > 0")
        refused({name: float("nan")}, f"model.{name}=nan must be > 0")
    for name in weights:
        refused({name: -5.0}, f"model.{name}=-5.0 must be >= 0")
        refused({name: float("inf")}, f"model.{name}=inf must be >= 0 and finite")
        entry.build(**{name: 0.0})  # 0 turns a term off
    for name in intervals:
        refused({name: 0}, f"model.{name}=0 must be >= 1")
    if "betas" in inspect.signature(entry.cls).parameters:
        refused({"betas": (0.5, 1.0)}, "model.betas=(0.5, 1.0) must be two numbers in [0, 1)")
        refused({"betas": (-0.1, 0.999)}, "model.betas=(-0.1, 0.999) must be two numbers in [0, 1)")
        refused({"betas": [0.5]}, "model.betas=[0.5] must be two numbers in [0, 1)")
        entry.build(betas=[0.0, 0.99])
