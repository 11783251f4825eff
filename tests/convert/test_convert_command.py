"""`i2i-zoo convert`: original files -> a checkpoint that `i2i-zoo predict` and
`load_from_checkpoint` use, and back to the original's files."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from i2i_zoo.cli import run
from i2i_zoo.convert import load_original_generator, to_original_state_dicts
from i2i_zoo.data import read_image, to_tensor, write_image
from i2i_zoo.methods import CycleGAN, Pix2Pix
from i2i_zoo.nets import ResnetGenerator, UnetGenerator, init_weights

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.fixture(autouse=True)
def _cli_environment(monkeypatch, tmp_path):
    # LightningCLI warns when it is given args while sys.argv holds pytest's own, and writes
    # config.yaml into the working directory.
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])
    monkeypatch.chdir(tmp_path)


def _original_file(net: nn.Module, path: Path) -> Path:
    torch.manual_seed(0)
    init_weights(net, "normal", 0.2)
    torch.save(net.state_dict(), path)
    return path


def _image_folder(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (32, 32), "b.png": (20, 45)}.items():
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def _predict(checkpoint: Path, inputs: Path, output: Path) -> None:
    # The checkpoint alone: the model's class comes from it, predict needs no data.root.
    run([
        "predict", "--ckpt_path", str(checkpoint), "--data.predict_dir", str(inputs), "--data.num_workers", "0", *QUIET,
        "--trainer.callbacks+=PredictionWriter", "--trainer.callbacks.output_dir", str(output),
    ])


def _expected(generator: nn.Module, image: Path, out: Path) -> np.ndarray:
    with torch.no_grad():
        write_image(out, generator.eval()(to_tensor(read_image(image))[None])[0])
    return cv2.imread(str(out))


def test_converted_pix2pix_translates_a_folder_with_predict(tmp_path, capsys):
    g = _original_file(UnetGenerator(3, 3, num_downs=5, ngf=4), tmp_path / "latest_net_G.pth")
    checkpoint = tmp_path / "facades.ckpt"
    run(["convert", "pix2pix", "--G", str(g), "--inference_mode", "eval", "--output", str(checkpoint)])
    assert "facades.ckpt: Pix2Pix(num_downs=5, ngf=4, norm=batch" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.partial"))

    inputs = _image_folder(tmp_path / "inputs")
    _predict(checkpoint, inputs, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    expected = _expected(load_original_generator(g), inputs / "a.png", tmp_path / "expected.png")
    assert np.abs(cv2.imread(str(tmp_path / "out" / "a.png")).astype(int) - expected).max() <= 1

    model = Pix2Pix.load_from_checkpoint(checkpoint)
    assert model.hparams.num_downs == 5 and model.hparams.inference_mode == "eval"


def test_converted_single_generator_cyclegan_predicts_its_direction(tmp_path):
    g = _original_file(ResnetGenerator(3, 3, ngf=4, n_blocks=6), tmp_path / "latest_net_G.pth")
    checkpoint = tmp_path / "zebra2horse.ckpt"
    with pytest.warns(UserWarning, match="G_A.*keep their random initialisation; translate only BtoA"):
        run(["convert", "cyclegan", "--G_B", str(g), "--output", str(checkpoint)])
    model = CycleGAN.load_from_checkpoint(checkpoint)
    assert model.hparams.direction == "BtoA" and model.hparams.generator == "resnet_6blocks"

    inputs = _image_folder(tmp_path / "inputs")
    _predict(checkpoint, inputs, tmp_path / "out")
    expected = _expected(load_original_generator(g), inputs / "a.png", tmp_path / "expected.png")
    assert np.abs(cv2.imread(str(tmp_path / "out" / "a.png")).astype(int) - expected).max() <= 1


def test_to_original_writes_the_original_files(tmp_path, capsys):
    names = ("G_A", "G_B", "D_A", "D_B")
    files = {name: tmp_path / f"latest_net_{name}.pth" for name in names}
    model = CycleGAN(ngf=4, ndf=4, generator="resnet_6blocks")
    for name, state in to_original_state_dicts(model).items():
        torch.save(state, files[name])
    checkpoint = tmp_path / "run.ckpt"
    run(["convert", "cyclegan", *(f"--{name}={files[name]}" for name in names), "--output", str(checkpoint)])

    run(["convert", "to-original", "--ckpt_path", str(checkpoint), "--output_dir", str(tmp_path / "back"), "--epoch", "200"])
    written = capsys.readouterr().out.split()[-4:]
    assert sorted(Path(p).name for p in written) == [f"200_net_{name}.pth" for name in ("D_A", "D_B", "G_A", "G_B")]
    for name in names:
        original = torch.load(files[name], weights_only=True)
        back = torch.load(tmp_path / "back" / f"200_net_{name}.pth", weights_only=True)
        assert original.keys() == back.keys() and all(torch.equal(original[k], back[k]) for k in original)


def test_convert_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(["convert", "cyclegan", "--output", str(tmp_path / "x.ckpt")])
    assert "needs --G_A or --G_B" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="latest_net_G.pth does not exist"):
        run(["convert", "pix2pix", "--G", str(tmp_path / "latest_net_G.pth"), "--output", str(tmp_path / "x.ckpt")])
    assert not (tmp_path / "x.ckpt").exists()
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "some.Other"}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="other.ckpt names the method class 'some.Other', which is not one of the registered methods .Pix2Pix, CycleGAN, StarGAN"):
        run(["convert", "to-original", "--ckpt_path", str(tmp_path / "other.ckpt"), "--output_dir", str(tmp_path)])
