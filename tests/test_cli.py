"""The `i2i-zoo` command: recipes parse and run, data settings link to the model, predict writes
one file per input, tool subcommands dispatch."""

import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.cli import LINKED_ARGUMENTS, expand_recipe_bases, run

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# Overlays compose after a method recipe (`-c RECIPE -c OVERLAY`) and never run alone.
OVERLAYS = [RECIPES / "ddp.yaml", RECIPES / "deepi2i" / "scratch.yaml"]
ALL_RECIPES = sorted(p for p in RECIPES.rglob("*.yaml") if p.name != "base.yaml" and p not in OVERLAYS)
DEMO_RECIPES = [p for p in ALL_RECIPES if "demo:" in p.read_text()]
PUBLIC_RECIPES = [p for p in ALL_RECIPES if p not in DEMO_RECIPES]
# Small networks and sizes, so recipes written for 256 px run in a second.
TINY = ["--model.init_args.ngf", "8", "--model.init_args.ndf", "8", "--model.init_args.num_downs", "5"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.fixture(autouse=True)
def _no_pytest_argv(monkeypatch):
    # LightningCLI warns when it is given args while sys.argv holds pytest's own.
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])


def _recipe_data(recipe: Path) -> dict:
    """The recipe's data section (class_path and init_args) merged over its bases."""
    merged: dict = {}
    for path in expand_recipe_bases(["-c", str(recipe)]):
        data = (yaml.safe_load(Path(path.split("=", 1)[1]).read_text()) or {}).get("data", {})
        merged.update(data.get("init_args", {}))
        merged["class_path"] = data.get("class_path", merged.get("class_path"))
    return merged


@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_recipe_parses(recipe, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # recipes work from any working directory
    with pytest.raises(SystemExit) as exit_info:
        run(["fit", "-c", str(recipe), "--print_config"])
    assert exit_info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"].startswith("i2i_zoo.methods.")
    assert config["data"]["init_args"]["root"]


@pytest.mark.parametrize("recipe", ["spl/cityscapes.yaml", "asymgan/cityscapes.yaml"])
def test_the_commented_fcn_score_block_parses_once_uncommented(recipe, capsys, monkeypatch, tmp_path):
    """The Cityscapes recipes carry FCNScore commented out (no segmenter ships): uncommenting it
    as a user would gives a valid configuration."""
    lines = (RECIPES / recipe).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# - class_path: FCNScore")
    indent = lines[start].index("#")
    end = start
    while end + 1 < len(lines) and lines[end + 1].startswith(" " * indent + "#   "):
        end += 1
    lines[start : end + 1] = [line[:indent] + line[indent + 2 :] for line in lines[start : end + 1]]
    uncommented = tmp_path / Path(recipe).name
    uncommented.write_text("\n".join(lines).replace("base: base.yaml", f"base: {RECIPES / Path(recipe).parent / 'base.yaml'}"))
    monkeypatch.chdir(tmp_path)
    config = _printed_config(capsys, uncommented)
    (fcn,) = [c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("FCNScore")]
    assert fcn["init_args"]["palette"] == "cityscapes" and fcn["init_args"]["groups"]


def _printed_config(capsys, *recipes: Path) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run(["fit", *[arg for recipe in recipes for arg in ("-c", str(recipe))], "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize(
    "recipe, option, value, choice",
    [
        ("cyclegan/demo.yaml", "--model.init_args.gan_mode", "lsgann", "lsgan"),
        ("pix2pix/facades.yaml", "--model.init_args.norm", "instances", "instance"),
        ("pix2pix/facades.yaml", "--data.init_args.layout", "sidebyside", "side_by_side"),
        ("pix2pix/facades.yaml", "--data.init_args.preprocess", "resize_crop", "resize_and_crop"),
    ],
    ids=["method", "method_net_option", "datamodule", "datamodule_base_option"],
)
def test_a_wrong_choice_fails_at_parse_time_naming_the_option_and_its_choices(recipe, option, value, choice, capsys):
    # Choice options are typed Literal[...], so jsonargparse rejects a typo before any __init__ runs.
    with pytest.raises(SystemExit) as exit_info:
        run(["fit", "-c", str(RECIPES / recipe), option, value, "--print_config"])
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert option.rsplit(".", 1)[1] in err and repr(choice) in err and value in err


def test_the_ddp_overlay_composes_after_a_method_recipe(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = _printed_config(capsys, RECIPES / "cyclegan" / "horse2zebra.yaml", RECIPES / "ddp.yaml")
    assert config["trainer"]["strategy"] == "ddp_gan"
    assert config["model"]["class_path"] == "i2i_zoo.methods.CycleGAN" and config["trainer"]["max_epochs"] == 200


def test_the_deepi2i_scratch_overlay_composes_after_a_dataset_recipe(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = _printed_config(capsys, RECIPES / "deepi2i" / "birds.yaml", RECIPES / "deepi2i" / "scratch.yaml")
    model = config["model"]["init_args"]
    assert (model["from_scratch"], model["pretrained"], model["warmup_iterations"]) == (True, None, 0)
    domains = config["data"]["init_args"]["domains"]
    assert len(domains) == 555 and domains[0] == "0295" and model["lr_d"] == 4e-4


@pytest.mark.parametrize("recipe", DEMO_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_demo_recipes_run_a_fast_dev_run(recipe, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if recipe.parent.name == "deepi2i":  # transfers from the checkpoint biggan/demo.yaml writes
        _write_biggan_demo_checkpoint(tmp_path)
    cli = run(["fit", "-c", str(recipe), "--trainer.fast_dev_run", "true", "--data.num_workers", "0", *QUIET])
    assert cli.trainer.state.finished
    assert cli.model.iteration == 1


def _write_biggan_demo_checkpoint(root: Path) -> None:
    """An untrained BigGAN of recipes/biggan/demo.yaml's architecture where its run writes last.ckpt."""
    from i2i_zoo.convert import save_checkpoint
    from i2i_zoo.methods import BigGAN

    model = (yaml.safe_load((RECIPES / "biggan" / "demo.yaml").read_text()))["model"]["init_args"]
    save_checkpoint(BigGAN(domains=["red", "green", "blue", "yellow"], image_size=32, **model),
                    root / "runs" / "biggan_demo" / "version_0" / "checkpoints" / "last.ckpt")  # fmt: skip


def _write_paired_layout(root: Path, splits=("train", "val", "test"), size=32, n=2):
    rng = np.random.default_rng(0)
    for split in splits:
        (root / split).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / split / f"{i}.jpg"), rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8))


def _write_unpaired_layout(root: Path, splits=("train", "test"), size=32, n=2, pairs_file: str | None = None):
    rng = np.random.default_rng(0)
    for split in splits:
        for domain in "AB":
            (root / f"{split}{domain}").mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / f"{split}{domain}" / f"{i}.jpg"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    if pairs_file:  # equal names are the hidden true pairs
        rows = [f"{split},{split}A/{i}.jpg,{split}B/{i}.jpg\n" for split in splits for i in range(n)]
        (root / pairs_file).write_text("split,A,B\n" + "".join(rows))


def _write_super_resolution_layout(root: Path, data: dict, size=32, n=2):
    """DIV2K's layout with the LR track the recipe reads (bicubic by default)."""
    rng = np.random.default_rng(0)
    scale = data.get("scale", 4)
    for split, first in (("train", 1), ("valid", 801)):
        option = "train_lr" if split == "train" else "val_lr"
        lr_folder = root / data.get(option, f"DIV2K_{split}_LR_bicubic/X{{scale}}").format(scale=scale)
        (root / f"DIV2K_{split}_HR").mkdir(parents=True)
        lr_folder.mkdir(parents=True, exist_ok=True)
        for i in range(first, first + n):
            cv2.imwrite(str(root / f"DIV2K_{split}_HR" / f"{i:04d}.png"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            low = rng.integers(0, 256, (size // scale, size // scale, 3), dtype=np.uint8)
            cv2.imwrite(str(lr_folder / f"{i:04d}x{scale}.png"), low)


def _write_reference_layout(root: Path, data: dict, size=32, n=2):
    if data.get("layout") == "side_by_side":
        _write_paired_layout(root, splits=sorted({"train", data.get("val_split", "val")}), size=size, n=n)
        return
    rng = np.random.default_rng(0)
    for split in ("train", data.get("val_split", "val")):
        for folder in (data.get("source_folder", "source"), data.get("reference_folder", "reference")):
            (root / split / folder).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / split / folder / f"{i}.jpg"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _write_celeba_layout(root: Path, data: dict, n=2001, size=8):
    """The CelebA layout (CelebA-HQ's with the recipe's file names): StarGAN's split puts the first
    1999 shuffled images in test."""
    rng = np.random.default_rng(0)
    images = root / data.get("images_folder", "images")
    images.mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for name in names:
        cv2.imwrite(str(images / name), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    attributes = [*data["domains"], "Smiling"]
    rows = [f"{name} " + " ".join(rng.choice(["1", "-1"], len(attributes))) for name in names]
    (root / data.get("labels_file", "list_attr_celeba.txt")).write_text("\n".join([str(n), " ".join(attributes), *rows]) + "\n")


def _write_ganimation_layout(root: Path, data: dict, n=2, size=32):
    import pickle

    rng = np.random.default_rng(0)
    (root / "imgs").mkdir(parents=True)
    conditions = {}
    for split in ("train", "test"):
        ids = [f"{split}_{i}" for i in range(n)]
        for id_ in ids:
            cv2.imwrite(str(root / "imgs" / f"{id_}.jpg"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            conditions[id_] = rng.uniform(0, 5, len(data["domains"]))
        (root / f"{split}_ids.csv").write_text("".join(f"{id_}.jpg\n" for id_ in ids))
    with open(root / "aus_openface.pkl", "wb") as f:
        pickle.dump(conditions, f, protocol=2)


def _write_class_folders_layout(root: Path, data: dict, n=3, size=8):
    """One folder of images per class (ImageNet's train folder): n each, so the default 0.8/0.1/0.1
    split (or ImageNet's 0.98/0.01/0.01) gives every split an image of each class."""
    rng = np.random.default_rng(0)
    for domain in data["domains"]:
        (root / domain).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / domain / f"{i}.png"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


# Small networks and 32 px data for each method's recipes written for full-size images.
_CROP_32 = ["--data.load_size", "32", "--data.crop_size", "32"]
TINY_BY_DATA = {
    "PairedDataModule": TINY + _CROP_32,
    "UnpairedDataModule": ["--model.init_args.ngf", "8", "--model.init_args.ndf", "8", "--model.init_args.generator", "resnet_6blocks", *_CROP_32],
    "SuperResolutionDataModule": ["--model.init_args.num_features", "8", "--model.init_args.num_blocks", "1", "--data.patch_size", "16"],
    "ReferencePairDataModule": ["--model.init_args.ngf", "8", "--model.init_args.n_blocks", "1", *_CROP_32],
    "MultiDomainDataModule": [
        "--model.init_args.g_conv_dim", "8", "--model.init_args.d_conv_dim", "8", "--model.init_args.g_repeat_num", "1",
        "--model.init_args.d_repeat_num", "3", "--data.image_size", "32", "--data.center_crop", "8",
    ],
}
# The spl recipes' model takes no ndf or num_downs: the pix2pix-layout tiny options that apply.
TINY_BY_MODEL = {
    # 16 px phase 1 then 32 px; the demo's identity encoder (no face recogniser's weights here).
    "BiLGAN": ["--model.init_args.g_conv_dim", "8", "--model.init_args.d_conv_dim", "8", "--model.init_args.g_repeat_num", "1",
               "--model.init_args.d_repeat_num", "3", "--model.init_args.g2_features", "8", "--model.init_args.g2_blocks", "1",
               "--model.init_args.low_size", "16", "--model.init_args.identity_encoder", "luma_thumbnail",
               "--data.image_size", "32", "--data.batch_size", "4"],
    # Batches of 2: the two training images, which GANimation's drop_last would drop in a batch of 25.
    "GANimation": [*TINY_BY_DATA["MultiDomainDataModule"], "--data.batch_size", "2"],
    # No VGG weights here: the content and style terms off.
    "AsymGAN": ["--model.init_args.ngf", "8", "--model.init_args.ndf", "8", "--model.init_args.lambda7", "0",
                "--model.init_args.lambda8", "0", *_CROP_32],
    "SPL": ["--model.init_args.ngf", "8", "--model.init_args.n_blocks", "1", *_CROP_32],
    "BigGAN": ["--model.init_args.G_ch", "2", "--model.init_args.D_ch", "2", "--model.init_args.dim_z", "8",
               "--model.init_args.shared_dim", "4", "--model.init_args.G_attn", "[]", "--model.init_args.D_attn", "[]",
               "--data.image_size", "32", "--data.batch_size", "8"],
    # No pretrained BigGAN here: the tiny networks train from scratch.
    "DeepI2I": ["--model.init_args.G_ch", "2", "--model.init_args.D_ch", "2", "--model.init_args.dim_z", "8",
                "--model.init_args.shared_dim", "4", "--model.init_args.G_attn", "[]", "--model.init_args.D_attn", "[]",
                "--model.init_args.pretrained", "null", "--model.init_args.from_scratch", "true", "--data.image_size", "32",
                "--data.batch_size", "16", "--data.num_workers", "0", "--model.init_args.eval_classes", "[0, 1]"],
}


@pytest.mark.parametrize("recipe", PUBLIC_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_public_recipes_run_on_a_tiny_dataset_in_their_layout(recipe, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    data = _recipe_data(recipe)
    root = tmp_path / data["root"]
    if data["class_path"] == "UnpairedDataModule":
        splits = sorted({"train", data.get("val_split", "test"), data.get("test_split", "test")})
        _write_unpaired_layout(root, splits=splits, pairs_file=data.get("pairs_file"))
    elif data["class_path"] == "SuperResolutionDataModule":
        _write_super_resolution_layout(root, data)
    elif data["class_path"] == "ReferencePairDataModule":
        _write_reference_layout(root, data)
    elif data.get("layout") == "celeba":
        _write_celeba_layout(root, data)
    elif data.get("layout") == "ganimation":
        _write_ganimation_layout(root, data)
    elif data.get("layout") == "class_folders":
        _write_class_folders_layout(root, data)
    elif data.get("layout") == "folders":
        for split in sorted({"train", data.get("val_split") or "test", data.get("test_split") or "test"}):
            _write_class_folders_layout(root / split, data, n=2)
    else:
        _write_paired_layout(root, splits=sorted({"train", data.get("val_split", "val"), data.get("test_split", "test")}))
    model_class = _recipe_model_class(recipe)
    tiny = TINY_BY_MODEL.get(model_class, TINY_BY_DATA[data["class_path"]])
    cli = run(["fit", "-c", str(recipe), "--trainer.fast_dev_run", "true", *QUIET, *tiny, "--data.num_workers", "0"])
    assert cli.trainer.state.finished
    for source, target in LINKED_ARGUMENTS:
        if source in cli.datamodule.hparams and target in cli.model.hparams:
            assert cli.model.hparams[target] == cli.datamodule.hparams[source], (source, target)


def _recipe_model_class(recipe: Path) -> str:
    """The recipe's model class_path, from it or its bases."""
    class_path = None
    for path in expand_recipe_bases(["-c", str(recipe)]):
        model = (yaml.safe_load(Path(path.split("=", 1)[1]).read_text()) or {}).get("model", {})
        class_path = model.get("class_path", class_path)
    return class_path


def test_short_class_names_without_a_recipe(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cli = run([
        "fit", "--model", "Pix2Pix", "--data", "PairedDataModule", "--data.root", "demo:shapes",
        "--data.load_size", "64", "--data.crop_size", "64", "--data.num_workers", "0",
        "--model.ngf", "8", "--model.ndf", "8", "--model.num_downs", "6", "--trainer.fast_dev_run", "true", *QUIET,
    ])
    assert type(cli.model).__name__ == "Pix2Pix" and cli.model.hparams.image_size == 64


def test_recipe_bases_expand_before_the_recipe(tmp_path):
    (tmp_path / "a.yaml").write_text("trainer: {max_epochs: 1}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\n")
    (tmp_path / "c.yaml").write_text("base: [sub/b.yaml]\n")
    assert expand_recipe_bases(["fit", "-c", str(tmp_path / "c.yaml"), "--x", "1"]) == [
        "fit", f"--config={tmp_path / 'sub' / '..' / 'a.yaml'}", f"--config={tmp_path / 'sub' / 'b.yaml'}",
        f"--config={tmp_path / 'c.yaml'}", "--x", "1",
    ]
    (tmp_path / "a.yaml").write_text("base: c.yaml\n")
    with pytest.raises(ValueError, match="extends itself"):
        expand_recipe_bases(["-c", str(tmp_path / "c.yaml")])


def test_a_runs_saved_config_reproduces_the_run(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    steps = ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "0", "--data.num_workers", "0"]
    first = run(["fit", "-c", str(RECIPES / "quickstart.yaml"), *TINY, *_CROP_32, *steps, *QUIET])
    saved = Path(first.trainer.log_dir) / "config.yaml"
    # The recipe's `base:` is relative to the recipe: the saved config holds it merged instead.
    assert "base" not in yaml.safe_load(saved.read_text())
    again = run(["fit", "-c", str(saved)])
    assert Path(again.trainer.log_dir) != saved.parent
    assert again.model.hparams == first.model.hparams and again.datamodule.hparams == first.datamodule.hparams
    # seed_everything in the config: the same weights after the same steps.
    weights, again_weights = first.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(weights[name], again_weights[name]) for name in weights)


def test_linked_data_setting_conflict_is_an_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"model.channels_A=1 conflicts with data.channels_A=3"):
        run(["fit", "-c", str(RECIPES / "quickstart.yaml"), "--model.init_args.channels_A", "1", "--trainer.fast_dev_run", "true"])


def test_a_negative_learning_rate_is_refused_before_training(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"model\.lr_g=-0\.1 must be > 0"):
        run(["fit", "-c", str(RECIPES / "quickstart.yaml"), "--model.init_args.lr_g", "-0.1", "--trainer.fast_dev_run", "true"])


def test_unknown_option_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        run(["fit", "-c", str(RECIPES / "quickstart.yaml"), "--model.init_args.lambda_l2", "1"])
    assert "lambda_l2" in capsys.readouterr().err


def test_fit_then_predict_writes_one_file_per_input_at_its_size(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    common = ["-c", str(RECIPES / "quickstart.yaml"), *QUIET, "--model.init_args.ngf", "8", "--model.init_args.ndf", "8", "--data.num_workers", "0"]
    cli = run(["fit", *common, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"])
    checkpoint = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1  # the last epoch, whatever val/l1 did
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert checkpoint.is_file() and not list(checkpoint.parent.glob(".*.partial"))

    # validate and test report every metric of the recipe's ImageQualityMetrics (KID needs more
    # images than one batch: skipped with a warning).
    for command in ("validate", "test"):
        evaluated = run([command, *common, "--ckpt_path", str(checkpoint), "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2"])
        stage = "val" if command == "validate" else "test"
        assert {f"{stage}/{m}" for m in ("l1", "fid", "psnr", "ssim")} <= set(evaluated.trainer.callback_metrics)

    inputs = tmp_path / "inputs"
    (inputs / "nested").mkdir(parents=True)
    rng = np.random.default_rng(1)
    sizes = {"a.png": (37, 50), "nested/b.jpg": (64, 64), "c.bmp": (20, 90)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(inputs / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    run([
        "predict", *common, "--ckpt_path", str(checkpoint), "--data.predict_dir", str(inputs),
        "--trainer.callbacks+=PredictionWriter", "--trainer.callbacks.output_dir", str(tmp_path / "out"),
    ])
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["a.png", "c.bmp.png", "nested/b.jpg"]
    # The checkpoint alone names the model and datamodule classes: no recipe, no data.root.
    run([
        "predict", "--ckpt_path", str(checkpoint), "--data.predict_dir", str(inputs), "--data.num_workers", "0", *QUIET,
        "--output_dir", str(tmp_path / "out2"),
    ])
    assert sorted(str(p.relative_to(tmp_path / "out2")) for p in (tmp_path / "out2").rglob("*.*")) == written
    for name, size in sizes.items():
        out = tmp_path / "out" / name.replace(".bmp", ".bmp.png")
        assert cv2.imread(str(out)).shape[:2] == size


def test_predict_without_a_folder_names_the_option(monkeypatch, tmp_path, tiny_checkpoint):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="data.predict_dir"):
        run(["predict", "--ckpt_path", str(tiny_checkpoint), *QUIET, "--data.num_workers", "0"])


def test_demo_subcommand_prints_the_dataset_folder(capsys):
    assert run(["demo", "shapes", "--layout", "unpaired"]) is None
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "trainA").is_dir() and (folder / "pairs.csv").is_file()
    run(["demo", "photos"])  # its only layout: super_resolution
    assert (Path(capsys.readouterr().out.strip()) / "DIV2K_train_HR").is_dir()


def test_bf16_mixed_fit_on_cpu(monkeypatch, tmp_path):
    """bf16 convolutions are 40-170x slower on this CPU: a tiny model, one batch."""
    monkeypatch.chdir(tmp_path)
    cli = run([
        "fit", "-c", str(RECIPES / "quickstart.yaml"), *QUIET, *TINY, "--trainer.precision", "bf16-mixed",
        "--trainer.fast_dev_run", "true", "--data.crop_size", "32", "--data.load_size", "32", "--data.batch_size", "2",
        "--data.num_workers", "0",
    ])
    assert cli.trainer.state.finished
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())
    assert cli.model.G.model.model[0].weight.dtype == torch.float32  # master weights stay float32


def test_cyclegan_demo_trains_without_image_pools(monkeypatch, tmp_path):
    """pool_size 0 (the discriminators learn from the current fakes only) once failed in the D step
    with "Trying to backward through the graph a second time": the pool detached the fakes."""
    monkeypatch.chdir(tmp_path)
    cli = run([
        "fit", "-c", str(RECIPES / "cyclegan" / "demo.yaml"), "--model.init_args.pool_size", "0",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "0",
        "--trainer.num_sanity_val_steps", "0", "--data.num_workers", "0", *QUIET,
    ])
    assert cli.model.iteration == 2 and cli.model.pool_A.images == []


def test_a_checkpoint_without_its_class_names_the_registered_methods(tmp_path):
    torch.save({"state_dict": {}, "hyper_parameters": {}}, tmp_path / "bare.ckpt")
    with pytest.raises(ValueError, match="bare.ckpt does not name its method .*pass --model with one of Pix2Pix, CycleGAN"):
        run(["predict", "--ckpt_path", str(tmp_path / "bare.ckpt")])


# ------------------------------------------------------------------------------------- predict
@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A deterministic tiny Pix2Pix as `i2i-zoo convert` writes it (weights and class, no training)."""
    from i2i_zoo.convert import save_checkpoint
    from i2i_zoo.methods import METHODS

    torch.manual_seed(0)
    return save_checkpoint(METHODS["Pix2Pix"].build(inference_mode="eval"), tmp_path / "tiny.ckpt")


def _write_inputs(folder: Path, names=("a.png", "b.jpg"), size=(20, 28)) -> Path:
    rng = np.random.default_rng(2)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return folder


def _predict(checkpoint, inputs, *options, recipe=()):
    arguments = ["--ckpt_path", str(checkpoint), "--data.predict_dir", str(inputs), "--data.num_workers", "0", *QUIET, *options]
    return run(["predict", *recipe, *arguments])  # a recipe (or --data class) before the options it lets name


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_predict_without_a_checkpoint_says_what_to_pass(monkeypatch, tmp_path):
    """It used to translate with untrained weights and exit 0."""
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs")
    with pytest.raises(ValueError, match=r"predict needs --ckpt_path: .*i2i-zoo fit.*i2i-zoo convert"):
        run(["predict", "-c", str(RECIPES / "quickstart.yaml"), "--data.predict_dir", str(inputs), "--data.num_workers", "0", *QUIET])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]


def test_predict_adds_the_writer_and_leaves_no_logger_folder_or_config(monkeypatch, tmp_path, tiny_checkpoint, caplog):
    """Without a writer it wrote nothing; the recipe's logger made a runs/ folder, and with
    `--trainer.logger false` a config.yaml that made the next predict in that folder abort."""
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs")
    with caplog.at_level(logging.INFO):
        _predict(tiny_checkpoint, inputs, recipe=("-c", str(RECIPES / "quickstart.yaml")))
    # The default folder is named after the checkpoint.
    assert sorted(_files(tmp_path / "predictions" / "tiny")) == ["a.png", "b.jpg"]
    assert caplog.messages[-1] == f"2 written to {Path('predictions') / 'tiny'}, 0 skipped"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs", "predictions", "tiny.ckpt"]

    for _ in range(2):
        _predict(tiny_checkpoint, inputs, "--trainer.logger", "false", "--output_dir", "again", "--overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "inputs", "predictions", "tiny.ckpt"]


def test_predict_refuses_a_folder_that_is_not_empty_without_overwrite(monkeypatch, tmp_path, tiny_checkpoint, capsys):
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"earlier result")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"out is not empty: .*--output_dir.*--overwrite"):
        _predict(tiny_checkpoint, inputs, "--output_dir", str(out))
    assert _files(out) == {"a.png": b"earlier result", "notes.txt": b"mine"}

    _predict(tiny_checkpoint, inputs, "--output_dir", str(out), "--overwrite")
    assert sorted(_files(out)) == ["a.png", "b.jpg", "notes.txt"]
    assert cv2.imread(str(out / "a.png")).shape == (20, 28, 3) and (out / "notes.txt").read_text() == "mine"

    # The same options for a writer configured by hand (the YAML keys).
    (out / "b.jpg").unlink()
    _predict(tiny_checkpoint, inputs, "--trainer.callbacks+=PredictionWriter", "--trainer.callbacks.output_dir", str(out),
             "--trainer.callbacks.overwrite", "true")
    assert (out / "b.jpg").is_file()

    with pytest.raises(SystemExit):
        run(["predict", "--help"])
    help_text = capsys.readouterr().out
    assert "--output_dir" in help_text and "--overwrite" in help_text


@pytest.mark.parametrize("where", ["the input folder", "above the input folder", "inside the input folder"])
def test_predict_never_writes_where_its_inputs_are(monkeypatch, tmp_path, tiny_checkpoint, where):
    """`output_dir` equal to `predict_dir` overwrote the inputs with their translations."""
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "data" / "inputs", names=("a.png", "b.jpg", "c.bmp"))
    out = {"the input folder": inputs, "above the input folder": tmp_path / "data", "inside the input folder": inputs / "out"}[where]
    before = _files(tmp_path / "data")
    with pytest.raises(ValueError, match=r"--output_dir .* (holds the input|lies inside data.predict_dir)"):
        _predict(tiny_checkpoint, inputs, "--output_dir", str(out), "--overwrite")
    assert _files(tmp_path / "data") == before


def test_predict_never_writes_over_the_reference_image(monkeypatch, tmp_path):
    from i2i_zoo.convert import save_checkpoint
    from i2i_zoo.methods import METHODS

    monkeypatch.chdir(tmp_path)
    checkpoint = save_checkpoint(METHODS["SPLReferenceTransfer"].build(), tmp_path / "transfer.ckpt")
    sources = _write_inputs(tmp_path / "sources", names=("style.png",))
    reference = _write_inputs(tmp_path / "out", names=("style.png",)) / "style.png"  # the output of sources/style.png
    before = reference.read_bytes()
    with pytest.raises(ValueError, match=r"--output_dir out holds the input .*out/style\.png"):
        _predict(checkpoint, sources, "--data.predict_reference", str(reference), "--output_dir", "out", "--overwrite",
                 recipe=("--data", "ReferencePairDataModule"))
    assert reference.read_bytes() == before


def test_asymgan_predict_writes_samples_side_by_side_or_the_reference_code(monkeypatch, tmp_path):
    from i2i_zoo.convert import save_checkpoint
    from i2i_zoo.data.io import read_image, to_tensor
    from i2i_zoo.methods import METHODS, AsymGAN

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(METHODS["AsymGAN"].build(), tmp_path / "asymgan.ckpt")
    inputs = _write_inputs(tmp_path / "maps", names=("a.png",), size=(24, 32))
    photo = _write_inputs(tmp_path / "photo", names=("p.png",), size=(40, 40)) / "p.png"
    data = ("--data", "UnpairedDataModule")
    _predict(checkpoint, inputs, "--model.init_args.predict_samples", "3", "--output_dir", "samples", recipe=data)
    assert read_image(tmp_path / "samples" / "a.png").shape == (24, 96, 3)  # three 24 x 32 photos
    _predict(checkpoint, inputs, "--data.predict_reference", str(photo), "--output_dir", "encoded", recipe=data)
    model = AsymGAN.load_from_checkpoint(checkpoint).eval()
    y = to_tensor(read_image(inputs / "a.png"))[None]
    reference = torch.nn.functional.interpolate(to_tensor(read_image(photo))[None], size=(24, 32), mode="area")
    with torch.no_grad():
        expected = model.translate(y, reference=reference)[0]
    written = to_tensor(read_image(tmp_path / "encoded" / "a.png"))
    assert (written - expected).abs().mean() < 0.02  # 8-bit steps; the reference resized by the data (area)


def test_predict_gives_inputs_of_one_stem_distinct_outputs(monkeypatch, tmp_path, tiny_checkpoint):
    """x.png, x.tif and x.bmp were all written to x.png: only one translation survived."""
    from i2i_zoo.data.io import read_image, to_tensor
    from i2i_zoo.methods import Pix2Pix

    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs", names=("x.png", "x.tif", "x.bmp", "x.jpg"))
    _predict(tiny_checkpoint, inputs, "--output_dir", "out")
    assert sorted(_files(tmp_path / "out")) == ["x.bmp.png", "x.jpg", "x.png", "x.tif.png"]
    model = Pix2Pix.load_from_checkpoint(tiny_checkpoint).eval()
    for name in ("x.png", "x.tif", "x.bmp"):
        with torch.no_grad():
            expected = model.predict_step({"image": to_tensor(read_image(inputs / name))[None]}, 0)["image"][0]
        written = read_image(tmp_path / "out" / (name if name == "x.png" else f"{name}.png"))
        assert (to_tensor(written) - expected).abs().max() <= 2.01 / 255, name  # one 8-bit step


def test_predict_converts_gray_inputs_and_skips_unreadable_ones(monkeypatch, tmp_path, tiny_checkpoint, caplog):
    """One grayscale image ended the run ("AtoB translation takes 3-channel images, got 1"); a
    corrupt file ended it after half the outputs."""
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs", names=("a.png", "c.png"))
    cv2.imwrite(str(inputs / "b_gray.png"), np.random.default_rng(3).integers(0, 256, (20, 28), dtype=np.uint8))
    (inputs / "a_corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    with caplog.at_level(logging.INFO), pytest.warns(UserWarning, match=r"skipped: .*a_corrupt\.jpg"):
        _predict(tiny_checkpoint, inputs, "--output_dir", "out")
    assert sorted(_files(tmp_path / "out")) == ["a.png", "b_gray.png", "c.png"]
    assert cv2.imread(str(tmp_path / "out" / "b_gray.png"), cv2.IMREAD_UNCHANGED).shape == (20, 28, 3)
    reason = r"cannot read image .*a_corrupt\.jpg: not a valid or complete image file"
    assert re.fullmatch(rf"3 written to out, 1 skipped \({reason}\)", caplog.messages[-1])

    # Many bad files: the line gives the first reasons, the warnings all of them.
    for name in ("d.png", "e.png", "f.png"):
        (inputs / name).write_bytes(b"")
    with caplog.at_level(logging.INFO), pytest.warns(UserWarning, match=r"skipped: .*f\.png"):
        _predict(tiny_checkpoint, inputs, "--output_dir", "out", "--overwrite")
    assert re.fullmatch(rf"3 written to out, 4 skipped \({reason}; .*d\.png.*; .*e\.png[^;]*; 1 more warned above\)", caplog.messages[-1])


# ------------------------------------------------------------------------------------- translate
def test_translate_is_predict_with_positional_folders(monkeypatch, tmp_path, tiny_checkpoint, capsys):
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "inputs", names=("a.png", "b.jpg", "c.bmp"))
    options = ["--data.num_workers=0", *QUIET]
    assert run(["translate", str(tiny_checkpoint), str(inputs), "out", *options]) is None
    assert sorted(_files(tmp_path / "out")) == ["a.png", "b.jpg", "c.bmp.png"]
    # It says which predict it runs, so the options its errors name are the ones shown.
    assert f"i2i-zoo predict --ckpt_path {tiny_checkpoint} --data.predict_dir {inputs} --output_dir out" in capsys.readouterr().err

    with pytest.raises(FileExistsError, match="--output_dir out is not empty: .*--overwrite"):
        run(["translate", str(tiny_checkpoint), str(inputs), "out", *options])
    run(["translate", str(tiny_checkpoint), str(inputs), "out", "--overwrite", *options])
    with pytest.raises(ValueError, match=r"--output_dir .*inputs holds the input .*inputs/a\.png"):
        run(["translate", str(tiny_checkpoint), str(inputs), str(inputs), "--overwrite", *options])
    with pytest.raises(FileNotFoundError, match="INPUT missing is not a folder: translate reads a folder of images"):
        run(["translate", str(tiny_checkpoint), "missing", "out"])
    assert sorted(_files(tmp_path / "inputs")) == ["a.png", "b.jpg", "c.bmp"]


def test_translate_names_the_method_of_a_checkpoint_that_does_not(monkeypatch, tmp_path, tiny_checkpoint):
    monkeypatch.chdir(tmp_path)
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    del checkpoint["hyper_parameters"]["_class_path"]
    torch.save(checkpoint, tmp_path / "bare.ckpt")
    inputs = _write_inputs(tmp_path / "inputs")
    arguments = ["translate", "bare.ckpt", str(inputs), "out", "--data.num_workers=0", *QUIET]
    with pytest.raises(ValueError, match="bare.ckpt does not name its method .*pass --model with one of Pix2Pix"):
        run(arguments)
    run([*arguments, "--model-class", "Pix2Pix"])
    assert sorted(_files(tmp_path / "out")) == ["a.png", "b.jpg"]


def test_help_lists_every_command_and_version_prints_it(capsys):
    from i2i_zoo import __version__
    from i2i_zoo.cli import TOOL_COMMANDS, TRAINER_COMMANDS

    for arguments in ([], ["--help"], ["-h"]):
        assert run(arguments) is None
        lines = capsys.readouterr().out.splitlines()
        for command in [*TRAINER_COMMANDS, *TOOL_COMMANDS]:
            assert any(re.fullmatch(rf"  {command} +\S.*", line) for line in lines), command
    assert {"fit", "validate", "test", "predict", "translate", "demo", "convert", "export", "class-accuracy", "score"} <= {*TRAINER_COMMANDS, *TOOL_COMMANDS}
    run(["--version"])
    assert capsys.readouterr().out == f"i2i-zoo {__version__}\n"


def test_a_command_line_call_gives_no_lightning_args_warning(tmp_path):
    """Every call warned that LightningCLI's args parameter is meant for calls from Python."""
    import os
    import subprocess
    import sys

    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "i2i_zoo", "fit", "-c", str(RECIPES / "quickstart.yaml"), "--print_config"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "model:" in result.stdout and "args parameter" not in result.stderr


def test_a_config_gives_the_datamodule_an_augmentation_pipeline(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    pipeline = {"transform": {"__class_fullname__": "HorizontalFlip", "p": 1.0}}
    overlay = tmp_path / "augment.yaml"
    overlay.write_text(yaml.safe_dump({"data": {"init_args": {"augmentations": pipeline}}}))
    config = _printed_config(capsys, RECIPES / "quickstart.yaml", overlay)
    assert config["data"]["init_args"]["augmentations"] == pipeline
    # Instantiation reads it: a pipeline albumentations cannot build fails before training.
    pipeline["transform"]["__class_fullname__"] = "NoSuchTransform"
    overlay.write_text(yaml.safe_dump({"data": {"init_args": {"augmentations": pipeline}}}))
    with pytest.raises(ValueError, match=r"data\.augmentations is not a valid albumentations pipeline"):
        run(["fit", "-c", str(RECIPES / "quickstart.yaml"), "-c", str(overlay), "--trainer.fast_dev_run", "true"])


def test_an_unknown_method_or_datamodule_lists_the_known_ones():
    with pytest.raises(ValueError, match="--model NoSuchMethod is no method of the zoo; choose one of Pix2Pix, CycleGAN"):
        run(["fit", "--model", "NoSuchMethod", "--data", "PairedDataModule"])
    with pytest.raises(ValueError, match="--data Paired is no datamodule of the zoo; choose one of .*PairedDataModule"):
        run(["fit", "--model=Pix2Pix", "--data=Paired"])
