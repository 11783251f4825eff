"""DeepI2I: transfer from a BigGAN checkpoint (E and D from its D, G from its G_ema), the hinge and
feature losses against hand values, the warm-up and frozen-encoder schedule, resuming without the
pretrained file, evaluation groups over target classes, predict and export."""

import pytest
import torch
from lightning.pytorch import seed_everything
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.convert import save_checkpoint
from i2i_zoo.methods import BigGAN, DeepI2I

TINTS = ["red", "green", "blue", "yellow"]
ARCH = dict(image_size=32, G_ch=4, D_ch=4, dim_z=8, shared_dim=8, G_attn=[], D_attn=[])


@pytest.fixture
def pretrained(tmp_path):
    """An (untrained) BigGAN checkpoint with a moving average that differs from its G."""
    torch.manual_seed(0)
    big = BigGAN(domains=["a", "b", "c", "d", "e", "f"], ema_decay=0.5, **ARCH)
    with torch.no_grad():
        for p in big.G_ema.parameters():
            p.add_(0.01)
    return big, save_checkpoint(big, tmp_path / "biggan.ckpt")


def tiny(**overrides):
    return DeepI2I(**{"domains": TINTS, **ARCH, **overrides})


def samples(n=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 32, 32, generator=generator) * 2 - 1
    labels = torch.randint(len(TINTS), (n,), generator=generator)
    return [{"image": images[i], "label": labels[i]} for i in range(n)]


def test_transfer_takes_e_and_d_from_the_discriminator_and_g_from_the_average(pretrained):
    big, path = pretrained
    model = DeepI2I.from_pretrained(str(path), domains=TINTS, class_offset=2, n_classes=6, **ARCH)
    for name, value in big.G_ema.state_dict().items():
        assert torch.equal(model.G.state_dict()[name], value), name
    assert not torch.equal(model.G.linear.weight, big.G.linear.weight)
    assert all(torch.equal(model.D.state_dict()[k], v) for k, v in big.D.state_dict().items())
    assert all(torch.equal(model.E.state_dict()[k], v) for k, v in big.D.state_dict().items() if k.startswith("blocks."))
    # Class "green" (label 1) is embedding row class_offset + 1 = 3, in G and D alike.
    assert torch.equal(model.rows(torch.tensor([1])), torch.tensor([3]))

    with_g = DeepI2I.from_pretrained(str(path), domains=TINTS, pretrained_generator="G", n_classes=6, **ARCH)
    assert torch.equal(with_g.G.linear.weight, big.G.linear.weight)


def test_a_pretrained_of_another_architecture_or_kind_is_refused(pretrained, tmp_path):
    _, path = pretrained
    with pytest.raises(ValueError, match=r"model.pretrained .*biggan.ckpt: its generator does not fit .* G_ch"):
        DeepI2I.from_pretrained(str(path), domains=TINTS, n_classes=6, **{**ARCH, "G_ch": 8})
    with pytest.raises(ValueError, match="exceed the 4 rows of the class embeddings"):
        tiny(class_offset=1, n_classes=4)
    other = save_checkpoint(tiny(from_scratch=True), tmp_path / "deepi2i.ckpt")
    with pytest.raises(ValueError, match="is a checkpoint of i2i_zoo.methods.deepi2i.DeepI2I, not of the BigGAN method"):
        DeepI2I.from_pretrained(str(other), domains=TINTS, **ARCH)
    with pytest.raises(FileNotFoundError, match=r"without .*G_ema.pth, .*D.pth: expected BigGAN-PyTorch's"):
        DeepI2I.from_pretrained(str(tmp_path), domains=TINTS, **ARCH)
    with pytest.raises(ValueError, match="set model.pretrained to a BigGAN checkpoint"):
        tiny().load_pretrained()
    with pytest.raises(ValueError, match=r"model.adaptor_weights needs a weight for each tapped side \[8\] \(side -> weight\), missing \[8\]"):
        tiny(adaptor_weights={4: 0.1})


def test_a_biggan_pytorch_folder_loads(tmp_path):
    from i2i_zoo.nets.biggan import BigGANDiscriminator, BigGANGenerator

    torch.manual_seed(0)
    G = BigGANGenerator(32, 4, 8, 8, True, 4, ())
    D = BigGANDiscriminator(32, 4, 4, ())
    torch.save(G.state_dict(), tmp_path / "G_ema.pth")
    torch.save(D.state_dict(), tmp_path / "D.pth")
    model = DeepI2I.from_pretrained(str(tmp_path), domains=TINTS, **ARCH)
    assert torch.equal(model.G.linear.weight, G.linear.weight) and torch.equal(model.E.blocks[0][0].conv1.weight, D.blocks[0][0].conv1.weight)


class ScoreTable(nn.Module):
    """D whose scores are set by hand: x[:, 0, 0, 0] (the features are the images themselves)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x, y):
        return self.weight * x[:, 0, 0, 0]

    def forward_with_features(self, x, y, sides):
        return self.forward(x, y), {8: x}


def test_hinge_terms_against_hand_values():
    model = tiny(from_scratch=True)
    model.D = ScoreTable()
    real = torch.zeros(2, 3, 32, 32)
    real[:, 0, 0, 0] = torch.tensor([1.5, 0.2])
    # The translations score their first pixel; fix them through G's output by patching translator.
    fake = torch.zeros(2, 3, 32, 32)
    fake[:, 0, 0, 0] = torch.tensor([0.5, -2.0])
    model.translator = lambda inference=True: (lambda x, y, z: fake)
    loss, terms = model.discriminator_loss({"real": real, "label": torch.tensor([0, 1]), "source": real})
    # D_real = mean(relu(1 - [1.5, 0.2])) = 0.4; D_fake = mean(relu(1 + [0.5, -2])) = 0.75.
    assert terms["D_real"].item() == pytest.approx(0.4)
    assert terms["D_fake"].item() == pytest.approx(0.75)
    assert loss.item() == pytest.approx(1.15)


@pytest.mark.parametrize("pairs, distance", [("input", "l1"), ("input", "mse"), ("reference", "mse"), ("reference", "l1")])
def test_feature_loss_against_hand_values(pairs, distance):
    model = tiny(from_scratch=True, feature_pairs=pairs, feature_distance=distance, feature_weights={8: 0.5})
    # Stacked batch [fake0, fake1; input0, input1] of constant maps 1, 2; 4, 8.
    stacked = torch.stack([torch.full((2, 8, 8), v) for v in (1.0, 2.0, 4.0, 8.0)])
    if pairs == "input":  # |1 - 4| and |2 - 8| averaged: 4.5 (l1); (9 + 36) / 2 = 22.5 (mse)
        expected = {"l1": 4.5, "mse": 22.5}[distance]
    else:  # rows 0 and 1: |1 - 2| = 1 either way
        expected = 1.0
    assert model.feature_loss({8: stacked}, 2).item() == pytest.approx(0.5 * expected)


def test_generator_loss_adds_the_scores_and_the_weighted_features():
    model = tiny(from_scratch=True, feature_weight=2.0, feature_weights={8: 0.5})
    model.D = ScoreTable()
    source = torch.zeros(2, 3, 32, 32)
    fake = torch.ones(2, 3, 32, 32) * 0.25
    model.translator = lambda inference=True: (lambda x, y, z: fake)
    _, terms = model.generator_loss({"source": source})
    assert terms["G_fake"].item() == pytest.approx(-0.25)
    assert terms["G_feature"].item() == pytest.approx(2.0 * 0.5 * 0.25)  # weight x alpha x |0.25 - 0|


def _snapshot(module):
    return {name: t.detach().clone() for name, t in [*module.named_parameters(), *module.named_buffers()]}


def _changed(before, module, kind="parameter"):
    names = dict(module.named_parameters() if kind == "parameter" else module.named_buffers())
    return {name for name, t in names.items() if not torch.equal(t, before[name])}


def test_warmup_trains_adaptors_and_d_only_then_g_and_never_the_pretrained_encoder(quiet_trainer, pretrained):
    _, path = pretrained
    seed_everything(0)
    model = tiny(pretrained=str(path), n_classes=6, warmup_iterations=2, lr_g=1e-3, lr_d=1e-3)
    quiet_trainer(max_epochs=1, limit_train_batches=0).fit(model, DataLoader(samples(), batch_size=4))  # loads the weights
    start = {name: _snapshot(getattr(model, name)) for name in ("E", "A", "G", "D")}
    trainer = quiet_trainer(max_steps=-1, max_epochs=1, limit_train_batches=2)
    trainer.fit(model, DataLoader(samples(), batch_size=4))
    assert model.iteration == 2 and model.current_phase().name == "train"
    assert _changed(start["A"], model.A) == {n for n, _ in model.A.named_parameters()}
    assert _changed(start["D"], model.D) == {n for n, _ in model.D.named_parameters()}
    assert not _changed(start["G"], model.G)  # frozen through the warm-up ...
    assert _changed(start["G"], model.G, "buffer")  # ... in train mode: BN statistics and SN vectors move
    assert not _changed(start["E"], model.E) and not _changed(start["E"], model.E, "buffer")

    after_warmup = _snapshot(model.G)
    quiet_trainer(max_epochs=1, limit_train_batches=2).fit(model, DataLoader(samples(), batch_size=4))
    assert model.iteration == 4
    assert {"linear.weight", "blocks.0.0.conv1.weight", "output_layer.2.weight"} <= _changed(after_warmup, model.G)
    assert not _changed(start["E"], model.E) and not _changed(start["E"], model.E, "buffer")


def test_from_scratch_trains_the_encoder(quiet_trainer):
    seed_everything(0)
    model = tiny(from_scratch=True, warmup_iterations=0)
    before = _snapshot(model.E)
    quiet_trainer(max_epochs=1, limit_train_batches=1).fit(model, DataLoader(samples(), batch_size=4))
    assert _changed(before, model.E) == {n for n, _ in model.E.named_parameters()}


def test_a_resumed_transfer_needs_no_pretrained_file(quiet_trainer, pretrained, tmp_path):
    _, path = pretrained
    seed_everything(0)
    model = tiny(pretrained=str(path), n_classes=6, warmup_iterations=1)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=2)
    trainer.fit(model, DataLoader(samples(), batch_size=4))
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    path.unlink()
    resumed = tiny(pretrained=str(path), n_classes=6, warmup_iterations=1)
    quiet_trainer(max_epochs=2, limit_train_batches=2).fit(resumed, DataLoader(samples(), batch_size=4), ckpt_path=tmp_path / "run.ckpt")
    assert resumed.iteration == 4
    with pytest.raises(FileNotFoundError, match=r"biggan.ckpt \(model.pretrained\) does not exist"):
        quiet_trainer(max_epochs=1, limit_train_batches=1).fit(tiny(pretrained=str(path), n_classes=6), DataLoader(samples(), batch_size=4))


def test_accumulation_and_batch_halves():
    model = tiny(from_scratch=True, num_D_accumulations=2, num_G_accumulations=2)
    with pytest.raises(ValueError, match="make data.batch_size a multiple of 4"):
        model.training_step({"image": torch.zeros(6, 3, 32, 32), "label": torch.zeros(6, dtype=torch.long)}, 0)


def test_evaluation_groups_are_the_target_classes():
    torch.manual_seed(0)
    model = tiny(from_scratch=True, eval_classes=["green", "yellow"], eval_targets_per_image=3).eval()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 3, 3])
    groups = model.evaluation_images({"image": images, "label": labels})
    assert set(groups) <= {"green", "yellow"}
    assert sum(len(g.fake) for g in groups.values()) == 12  # 4 images x 3 targets, all green or yellow
    assert torch.equal(groups["yellow"].real, images[2:]) and torch.equal(groups["green"].real, images[1:2])


def test_translate_draws_z_per_call_and_takes_one_or_many():
    torch.manual_seed(0)
    model = tiny(from_scratch=True).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = torch.randn(2, model.G.dim_z)
    with torch.no_grad():
        assert torch.equal(model.translate(x, "blue", z), model.translate(x, ["blue", 2], z))
        assert not torch.equal(model.translate(x, "blue"), model.translate(x, "blue"))  # several z, several outputs
        assert not torch.equal(model.translate(x, "blue", z), model.translate(x, "red", z))
    with pytest.raises(ValueError, match="unknown class 'purple'; the model's classes are \\['red', 'green'"):
        model.translate(x, "purple")
    with pytest.raises(ValueError, match="3 target classes for 2 images"):
        model.translate(x, [0, 1, 2])
    network = model.export_generator("blue", z[0])
    with torch.no_grad():
        assert torch.equal(network(x), model.translate(x, "blue", z[:1].expand(2, -1)))


def test_predict_crops_resizes_and_translates_into_the_target():
    torch.manual_seed(0)
    model = tiny(from_scratch=True, predict_target="green").eval()
    wide = torch.rand(1, 3, 40, 64) * 2 - 1
    out = model.predict_step({"image": wide, "path": ["a/photo.png"]}, 0)["image"]
    assert out.shape == (1, 3, 32, 32)
    again = model.predict_step({"image": wide, "path": ["b/photo.png"]}, 0)["image"]
    assert torch.equal(out, again)  # the latent follows the file name, not the call
    with pytest.raises(ValueError, match="no target class: give one, or set model.predict_target"):
        tiny(from_scratch=True).predict_step({"image": wide, "path": ["x.png"]}, 0)
