from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import cv2
import lightning as L
import numpy as np
import pytest
import torch

from i2i_zoo.data import (
    MultiDomainDataModule,
    PairedDataModule,
    ReferencePairDataModule,
    SuperResolutionDataModule,
    UnpairedDataModule,
)
from i2i_zoo.data.io import ImageReadError

SMALL = dict(load_size=20, crop_size=16, batch_size=2, num_workers=0)


def _check(batch: dict, n: int, channels_A: int, channels_B: int, size: int = 16) -> None:
    assert set(batch) == {"A", "B", "A_path", "B_path"}
    assert batch["A"].shape == (n, channels_A, size, size)
    assert batch["B"].shape == (n, channels_B, size, size)
    assert batch["A"].dtype == batch["B"].dtype == torch.float32
    assert isinstance(batch["A_path"][0], str)


def test_paired_loaders(make_paired, tmp_path: Path, write_rgb_file) -> None:
    root = make_paired()
    write_rgb_file(tmp_path / "predict" / "x.png", np.zeros((13, 21, 3), np.uint8))
    dm = PairedDataModule(str(root), predict_dir=str(tmp_path / "predict"), **SMALL)
    assert dm.hparams.crop_size == 16 and dm.hparams.root == str(root)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert not loader.pin_memory or torch.cuda.is_available()
    _check(next(iter(loader)), 2, 3, 3)
    _check(next(iter(dm.val_dataloader())), 2, 3, 3)
    assert dm.val_dataset[0]["A"].shape == (3, 16, 16)
    dm.setup("test")
    _check(next(iter(dm.test_dataloader())), 2, 3, 3)
    batch = next(iter(dm.predict_dataloader()))
    assert set(batch) == {"image", "path"} and batch["image"].shape == (1, 3, 13, 21)
    assert dm.predict_dir == str(tmp_path / "predict")  # read by the prediction writer


def test_paired_gray(make_paired) -> None:
    dm = PairedDataModule(str(make_paired(gray=True)), channels_A=1, channels_B=1, **SMALL)
    dm.setup("fit")
    _check(next(iter(dm.train_dataloader())), 2, 1, 1)


def test_missing_val_split_says_how_to_skip_validation(make_paired) -> None:
    root = make_paired(splits=("train",))
    dm = PairedDataModule(str(root), **SMALL)
    with pytest.raises(FileNotFoundError, match=r"paired.val.*data\.val_split: null"):
        dm.setup("fit")


def test_no_val_split_means_no_val_loader(make_paired) -> None:
    dm = PairedDataModule(str(make_paired(splits=("train",))), val_split=None, **SMALL)
    dm.setup("fit")
    assert dm.val_dataloader() == [] and dm.val_dataset is None


def test_no_test_split(make_paired) -> None:
    dm = PairedDataModule(str(make_paired()), test_split=None, **SMALL)
    dm.setup("test")
    with pytest.raises(ValueError, match=r"data\.test_split"):
        dm.test_dataloader()


def test_missing_predict_dir(make_paired) -> None:
    dm = PairedDataModule(str(make_paired()), **SMALL)
    with pytest.raises(ValueError, match=r"data\.predict_dir"):
        dm.predict_dataloader()


def test_bad_options_fail_at_instantiation() -> None:
    with pytest.raises(ValueError, match="preprocess"):
        PairedDataModule("unused", preprocess="scale_width")


def test_unpaired_loaders(make_unpaired) -> None:
    dm = UnpairedDataModule(str(make_unpaired(channels_A=1)), channels_A=1, **SMALL)
    dm.setup("fit")
    assert len(dm.train_dataset) == 5
    _check(next(iter(dm.train_dataloader())), 2, 1, 3)
    val = next(iter(dm.val_dataloader()))
    _check(val, 2, 1, 3)
    assert [Path(p).name for p in val["B_path"]] == ["000.png", "001.png"]  # fixed pairing
    assert {Path(p).parent.name for p in val["A_path"]} == {"testA"}
    dm.setup("test")
    _check(next(iter(dm.test_dataloader())), 2, 1, 3)


def test_unpaired_missing_folder(make_unpaired) -> None:
    root = make_unpaired()
    dm = UnpairedDataModule(str(root / "nowhere"), **SMALL)
    with pytest.raises(FileNotFoundError, match=r"trainA.*unpaired layout"):
        dm.setup("fit")


class _ShapeChecker(L.LightningModule):
    """Records batch shapes seen by training and validation steps."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[str, tuple[int, ...]]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(("train", tuple(batch["A"].shape)))
        return (self.weight * batch["A"]).mean()

    def validation_step(self, batch, batch_idx):
        self.seen.append(("val", tuple(batch["A"].shape)))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("val_split", ["val", None])
def test_fit_with_trainer(make_paired, val_split: str | None) -> None:
    dm = PairedDataModule(str(make_paired(gray=True)), channels_A=1, channels_B=1,
                          val_split=val_split, **SMALL)
    model = _ShapeChecker()
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    stages = {stage for stage, _ in model.seen}
    assert stages == ({"train", "val"} if val_split else {"train"})
    assert all(shape[1:] == (1, 16, 16) for _, shape in model.seen)


def _unpaired_demo(**overrides) -> UnpairedDataModule:
    options = dict(root="demo:shapes", load_size=72, crop_size=64, batch_size=1, num_workers=0)
    return UnpairedDataModule(**{**options, **overrides})


def test_the_stream_is_the_same_with_any_number_of_persistent_workers() -> None:
    """Items take their randomness from the keys the sampler draws in the main process, so
    worker count and persistence change nothing, over epochs cut short as limit_train_batches
    cuts them (the persistent iterator is then reset)."""

    def stream(workers: int) -> list[tuple[list[str], torch.Tensor]]:
        torch.manual_seed(0)
        dm = _unpaired_demo(num_workers=workers)
        dm.setup("fit")
        loader = dm.train_dataloader()
        assert loader.persistent_workers == (workers > 0)
        return [(batch["B_path"], batch["A"]) for _ in range(2) for _, batch in zip(range(4), loader)]

    single, multi = stream(0), stream(2)
    assert [paths for paths, _ in single] == [paths for paths, _ in multi]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(single, multi))
    assert len({a.numpy().tobytes() for _, a in single}) == len(single)  # no item repeats a crop


class _StubTrainer:
    def __init__(self, rank: int, world_size: int):
        self.global_rank, self.world_size = rank, world_size


def _b_picks(dm: UnpairedDataModule, n: int = 6) -> list[str]:
    return [batch["B_path"][0] for _, batch in zip(range(n), dm.train_dataloader())]


def test_ranks_share_the_order_draw_their_own_items_and_a_checkpoint_holds_them_all(monkeypatch) -> None:
    modules = []
    for rank in (0, 1):
        torch.manual_seed(0)  # seed_everything gives every rank the same seed
        dm = _unpaired_demo()
        dm.trainer = _StubTrainer(rank, 2)
        dm.setup("fit")
        modules.append(dm)
    states = [dm._train_generator.get_state() for dm in modules]
    # What the two processes' all_gather_object would collect.
    monkeypatch.setattr(torch.distributed, "all_gather_object", lambda gathered, state: gathered.__setitem__(slice(None), states))
    saved = modules[0].state_dict()
    assert saved["train_generators"].shape[0] == 2

    expected = [_b_picks(dm) for dm in modules]
    assert expected[0] != expected[1]
    for rank in (0, 1):
        torch.manual_seed(123)
        resumed = _unpaired_demo()
        resumed.trainer = _StubTrainer(rank, 2)
        resumed.setup("fit")
        resumed.load_state_dict(saved)
        assert _b_picks(resumed) == expected[rank]

    # The next epoch: disjoint halves of one permutation, items seeded differently.
    keys = [list(dm.train_dataloader().sampler) for dm in modules]
    size = len(modules[0].train_dataset)
    assert len(keys[0]) == len(keys[1]) == (size + 1) // 2
    indices = [index for rank_keys in keys for index, _ in rank_keys]
    assert sorted(set(indices)) == list(range(size)) and len(indices) - len(set(indices)) == size % 2
    assert not {seed for _, seed in keys[0]} & {seed for _, seed in keys[1]}

    with pytest.warns(UserWarning, match="predates the checkpointed data order"):
        resumed.load_state_dict({"train_generators": saved["train_generators"]})


class _StreamRecorder(L.LightningModule):
    """Records the training batches: (epoch, batch index, A paths, A)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[int, int, list[str], torch.Tensor]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append((self.current_epoch, batch_idx, batch["A_path"], batch["A"]))
        return (self.weight * batch["A"]).mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _SaveAt(L.Callback):
    """Writes a checkpoint after training batch `index` (counted over epochs), from `hook`."""

    def __init__(self, hook: str, index: int, path: Path) -> None:
        self.hook, self.index, self.path = hook, index, path

    def _save(self, trainer: L.Trainer, hook: str) -> None:
        if hook == self.hook and not trainer.sanity_checking and trainer.fit_loop.total_batch_idx == self.index:
            trainer.save_checkpoint(self.path)

    def on_train_batch_end(self, trainer, *args) -> None:
        self._save(trainer, "on_train_batch_end")

    def on_validation_end(self, trainer, pl_module) -> None:
        self._save(trainer, "on_validation_end")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer, "on_train_epoch_end")


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_checkpoint_written_within_an_epoch_resumes_the_same_stream(tmp_path, num_workers) -> None:
    """Lightning resumes a checkpoint written within an epoch at the next batch, without a new
    epoch (no on_train_epoch_start, no new iterator): the datamodule redraws that epoch from the
    states before its draw and skips the batches done. Validation runs after batches 1 and 3 of
    each epoch; resumed after the last batch, Lightning makes an iterator it never reads."""
    points = [
        ("on_train_batch_end", 1),  # within the first epoch
        ("on_train_batch_end", 3),  # after its last batch: the resumed run starts the next epoch
        ("on_validation_end", 5),  # within the second epoch
        ("on_validation_end", 3),  # after the first epoch's last batch
        ("on_train_epoch_end", 3),
    ]

    def fit(callbacks=(), ckpt_path=None):
        model = _StreamRecorder()
        trainer = L.Trainer(
            max_epochs=3, limit_train_batches=4, limit_val_batches=1, val_check_interval=2, num_sanity_val_steps=0,
            accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=tmp_path, callbacks=list(callbacks),
        )
        trainer.fit(model, datamodule=_unpaired_demo(batch_size=2, num_workers=num_workers), ckpt_path=ckpt_path)
        return model.seen

    torch.manual_seed(0)
    paths = [tmp_path / f"{hook}-{index}.ckpt" for hook, index in points]
    expected = fit([_SaveAt(hook, index, path) for (hook, index), path in zip(points, paths)])
    assert len(expected) == 12
    for (hook, index), path in zip(points, paths):
        torch.manual_seed(1234)
        resumed = fit(ckpt_path=path)
        tail = expected[len(expected) - len(resumed):]
        assert len(resumed) == 11 - index, (hook, index)
        assert [seen[:3] for seen in resumed] == [seen[:3] for seen in tail], (hook, index)
        assert all(torch.equal(a[3], b[3]) for a, b in zip(resumed, tail)), (hook, index)


def test_a_checkpoint_without_the_consumed_samples_resumes_at_an_epochs_start() -> None:
    torch.manual_seed(0)
    dm = _unpaired_demo()
    dm.setup("fit")
    saved = dm.state_dict()
    assert saved["consumed_samples"] == 0
    expected = _b_picks(dm)
    older = _unpaired_demo()
    older.setup("fit")
    older.load_state_dict({key: value for key, value in saved.items() if key != "consumed_samples"})
    assert _b_picks(older) == expected


def test_an_iterator_never_read_draws_nothing() -> None:
    """With workers a DataLoader fetches keys as soon as its iterator is made; Lightning makes
    iterators it never reads (resuming after an epoch's last batch), which must not use an epoch."""
    for workers in (0, 1):
        torch.manual_seed(0)
        dm = _unpaired_demo(num_workers=workers)
        dm.setup("fit")
        loader = dm.train_dataloader()
        state = dm._order_generator.get_state()
        iter(loader)
        assert torch.equal(dm._order_generator.get_state(), state)
        next(iter(loader))
        assert not torch.equal(dm._order_generator.get_state(), state)


def test_evaluation_processes_share_the_set_without_repeats(make_paired) -> None:
    dm = PairedDataModule(str(make_paired(n=3)), **SMALL)
    dm.setup("fit")
    shares = []
    for rank in (0, 1):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)  # what the loaders read of a DDP run
        shares.append([Path(path).name for batch in dm.val_dataloader() for path in batch["A_path"]])
    assert shares == [["000.png", "002.png"], ["001.png"]]
    dm.trainer = SimpleNamespace(world_size=4, global_rank=0)
    with pytest.raises(ValueError, match=r"^the validation split \(data\.val_split\) has 3 item\(s\) for 4 processes"):
        dm.val_dataloader()


def test_evaluation_never_draws_from_torchs_rng() -> None:
    dm = _unpaired_demo(batch_size=4)
    dm.setup("fit")
    state = torch.get_rng_state()
    for _ in dm.val_dataloader():
        pass
    assert torch.equal(torch.get_rng_state(), state)


def test_unpaired_evaluation_splits_are_options(make_unpaired) -> None:
    root = make_unpaired()
    dm = UnpairedDataModule(str(root), val_split=None, **SMALL)
    dm.setup("fit")
    assert dm.val_dataloader() == []
    dm = UnpairedDataModule(str(root), val_split="train", **SMALL)
    dm.setup("validate")
    assert len(dm.val_dataset) == 5  # trainA/trainB: max(3, 5)
    with pytest.raises(FileNotFoundError, match=r"missingA.*data\.val_split"):
        UnpairedDataModule(str(root), val_split="missing", **SMALL).setup("validate")


@pytest.mark.parametrize("datamodule", [PairedDataModule, UnpairedDataModule])
def test_edges2photos_reads_gray_edge_maps_in_both_layouts(datamodule) -> None:
    dm = datamodule(root="demo:edges2photos", channels_A=1, load_size=64, crop_size=64, batch_size=2, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (2, 1, 64, 64) and batch["B"].shape == (2, 3, 64, 64)
    # Edge maps are black on white: only the two extreme values (up to resampling at crop edges).
    assert ((batch["A"] < -0.9) | (batch["A"] > 0.9)).float().mean() > 0.95


def test_root_is_needed_for_everything_but_predict():
    from i2i_zoo.data import PairedDataModule

    module = PairedDataModule(num_workers=0)
    module.setup("predict")  # predict reads data.predict_dir only
    with pytest.raises(ValueError, match="data.root is required for fit"):
        module.setup("fit")


# Floating-point files on a 0..255 scale, in every layout: data.float_range reaches training,
# evaluation and predict, and without it each read names the file and the option.
FLOAT_VALUE = 204.0  # 0.8 of white: -> 0.6 in [-1, 1]


def _float_tiff(path: Path, height: int = 8, width: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), FLOAT_VALUE, np.float32))


def _paired_floats(root: Path) -> dict:
    for split in ("train", "val"):
        _float_tiff(root / split / "x.tif", 8, 16)
    return dict(preprocess="none", test_split=None)


def _unpaired_floats(root: Path) -> dict:
    for folder in ("trainA", "trainB", "testA", "testB"):
        _float_tiff(root / folder / "x.tif")
    return dict(preprocess="none")


def _reference_floats(root: Path) -> dict:
    for split in ("train", "val"):
        for folder in ("source", "reference"):
            _float_tiff(root / split / folder / "x.tif")
    _float_tiff(root / "style.tif")
    return dict(preprocess="none", test_split=None, predict_reference=str(root / "style.tif"))


def _super_resolution_floats(root: Path) -> dict:
    for split in ("train", "valid"):
        _float_tiff(root / f"DIV2K_{split}_HR" / "0001.tif", 16, 16)
    return dict(train_lr=None, val_lr=None, test_hr=None, patch_size=8)


def _multi_domain_floats(root: Path) -> dict:
    for split in ("train", "test"):
        for domain in "ab":
            _float_tiff(root / split / domain / "x.tif")
    return dict(domains=["a", "b"], image_size=8)


FLOAT_LAYOUTS = {
    PairedDataModule: _paired_floats,
    UnpairedDataModule: _unpaired_floats,
    ReferencePairDataModule: _reference_floats,
    SuperResolutionDataModule: _super_resolution_floats,
    MultiDomainDataModule: _multi_domain_floats,
}


@pytest.mark.parametrize("datamodule", FLOAT_LAYOUTS, ids=lambda cls: cls.__name__)
def test_float_range_reaches_every_dataset_of_every_layout(tmp_path: Path, datamodule) -> None:
    root = tmp_path / "data"
    options = FLOAT_LAYOUTS[datamodule](root)
    _float_tiff(tmp_path / "predict" / "p.tif")
    options |= dict(root=str(root), predict_dir=str(tmp_path / "predict"), batch_size=1, num_workers=0)

    def items(dm) -> list:
        dm.setup("fit")
        return [lambda: dm.train_dataset[0], lambda: dm.val_dataset[0], lambda: next(iter(dm.predict_dataloader()))]

    for read in items(datamodule(float_range=(0.0, 255.0), **options)):
        images = [value for value in read().values() if isinstance(value, torch.Tensor) and value.ndim >= 3]
        assert images
        for image in images:
            assert torch.allclose(image, torch.tensor(FLOAT_VALUE / 255 * 2 - 1), atol=1e-4)
    message = r"\.tif holds float pixel values from 204 to 204, outside data\.float_range=\[0\.0, 1\.0\]"
    *training, predicting = items(datamodule(**options))
    for read in training:
        with pytest.raises(ImageReadError, match=message):
            read()
    if datamodule is ReferencePairDataModule:  # its predict reference, which every output needs, fails the run
        with pytest.raises(ImageReadError, match=message):
            predicting()
    else:  # predict skips a bad file with its reason, and goes on with the others
        assert re.search(message, predicting()["error"][0])


# Shared numbers are checked when the datamodule is made, naming the option and its range.
@pytest.mark.parametrize(
    "datamodule, option, value, valid",
    [
        (PairedDataModule, "batch_size", 0, ">= 1"),
        (PairedDataModule, "num_workers", -1, ">= 0"),
        (PairedDataModule, "load_size", 0, ">= 1"),
        (PairedDataModule, "crop_size", -16, ">= 1"),
        (UnpairedDataModule, "batch_size", 1.5, ">= 1"),
        (ReferencePairDataModule, "batch_size", -2, ">= 1"),
        (SuperResolutionDataModule, "batch_size", 0, ">= 1"),
        (SuperResolutionDataModule, "eval_batch_size", 0, ">= 1"),
        (MultiDomainDataModule, "batch_size", 0, ">= 1"),
        (MultiDomainDataModule, "num_workers", -3, ">= 0"),
    ],
)
def test_shared_numbers_out_of_range_name_the_option(datamodule, option, value, valid) -> None:
    extra = dict(domains=["a", "b"]) if datamodule is MultiDomainDataModule else {}
    with pytest.raises(ValueError, match=rf"^data\.{option}={value} is out of range: use an integer {valid}$"):
        datamodule("unused", **{option: value}, **extra)


@pytest.mark.parametrize("value", [(1.0, 0.0), (0.0, float("nan")), (0.0, 1.0, 2.0)])
def test_a_bad_float_range_fails_at_instantiation(value) -> None:
    with pytest.raises(ValueError, match=r"data\.float_range=.*two finite numbers, black below white"):
        PairedDataModule("unused", float_range=value)


# Square halves: a side-by-side pair is twice as wide as high, unless data.square_halves is off.
def test_paired_layout_rejects_images_that_are_not_pairs_of_square_halves(tmp_path: Path, write_rgb_file) -> None:
    write_rgb_file(tmp_path / "train" / "single.png", np.zeros((12, 12, 3), np.uint8))
    dm = PairedDataModule(str(tmp_path), val_split=None, preprocess="none", num_workers=0)
    dm.setup("fit")
    with pytest.raises(ImageReadError, match=r"single\.png is 12x12 pixels.*width must be twice its height \(24\).*data\.square_halves: false"):
        dm.train_dataset[0]
    dm = PairedDataModule(str(tmp_path), val_split=None, preprocess="none", num_workers=0, square_halves=False)
    dm.setup("fit")
    assert dm.train_dataset[0]["A"].shape == (3, 12, 6)


# preprocess: none keeps each file's size, and a batch needs one.
def test_a_batch_of_images_of_different_sizes_names_the_files_and_the_options(tmp_path: Path, write_rgb_file) -> None:
    for split in ("train", "val"):
        write_rgb_file(tmp_path / split / "small.png", np.zeros((8, 16, 3), np.uint8))
        write_rgb_file(tmp_path / split / "large.png", np.zeros((10, 20, 3), np.uint8))
    dm = PairedDataModule(str(tmp_path), preprocess="none", batch_size=2, num_workers=0, test_split=None)
    dm.setup("fit")
    for split, loader in (("train", dm.train_dataloader()), ("val", dm.val_dataloader())):
        with pytest.raises(ValueError) as info:
            next(iter(loader))
        message = str(info.value)
        assert message.startswith("the A images of a batch differ in size")
        assert f"{tmp_path / split / 'small.png'}: 3x8x8" in message
        assert f"{tmp_path / split / 'large.png'}: 3x10x10" in message
        assert "data.preprocess" in message and "data.batch_size: 1" in message
