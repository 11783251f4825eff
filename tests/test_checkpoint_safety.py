"""What a checkpoint given to `i2i-zoo` may do: nothing but hold tensors and plain values. A URL is
never unpickled beyond weights, a corrupt file is named, the checkpoint must hold the recipe's
method and agree with the model options named on the command line, a class it names is never
imported from outside the package, and a failed run leaves no empty log folder."""

import functools
import http.server
import sys
import threading
from pathlib import Path

import pytest
import torch

from i2i_zoo.callbacks import AtomicCheckpointIO
from i2i_zoo.callbacks.checkpoint_io import load_checkpoint_file
from i2i_zoo.cli import I2IZooCLI, run
from i2i_zoo.convert.checkpoint import load_checkpoint
from i2i_zoo.export import load_method

QUICKSTART = str(Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml")
PIX2PIX = "i2i_zoo.methods.Pix2Pix"  # the class path LightningCLI writes for --model Pix2Pix


class _Payload:
    """Unpickling this creates `marker`: the code a crafted checkpoint would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(autouse=True)
def _no_pytest_argv(monkeypatch):
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])


@pytest.fixture
def parse_only(monkeypatch):
    """`run` parses and builds the model and datamodule but runs no Trainer command."""
    monkeypatch.setattr(I2IZooCLI, "_run_subcommand", lambda self, subcommand: None)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local HTTP server over tmp_path/www: the URL of a file name; downloads go to tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()


def _checkpoint(path: Path, class_path: str = PIX2PIX, **hparams) -> Path:
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": class_path, **hparams}}, path)
    return path


def test_a_crafted_checkpoint_url_is_refused_and_its_payload_never_runs(served, tmp_path):
    root, url = served
    marker = tmp_path / "payload_ran"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "extra": _Payload(marker)}, root / "evil.ckpt")
    with pytest.raises(ValueError, match=r"refused checkpoint .*evil.ckpt \(--ckpt_path\): it holds objects other than tensors"):
        run(["validate", "-c", QUICKSTART, "--ckpt_path", url("evil.ckpt")])
    # The Trainer restores through the checkpoint IO plugin, which Lightning lets unpickle URLs freely.
    with pytest.raises(ValueError, match="refused checkpoint"):
        AtomicCheckpointIO().load_checkpoint(url("evil.ckpt"))
    with pytest.raises(ValueError, match="weights_only=True only"):
        AtomicCheckpointIO().load_checkpoint(url("evil.ckpt"), weights_only=False)
    assert not marker.exists()
    # A checkpoint of tensors and plain values loads from a URL as from a file.
    torch.save({"state_dict": {"w": torch.arange(3.0)}, "epoch": 2}, root / "good.ckpt")
    loaded = AtomicCheckpointIO().load_checkpoint(url("good.ckpt"))
    assert loaded["epoch"] == 2 and torch.equal(loaded["state_dict"]["w"], torch.arange(3.0))


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "the file is empty"), (b"not a checkpoint at all", "not a complete checkpoint file"), (bytes(range(256)) * 8, "not a complete")],
)
def test_a_corrupt_checkpoint_is_named_without_unsafe_advice(tmp_path, content, reason):
    path = tmp_path / "broken.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"cannot read checkpoint {path} \(--ckpt_path\): {reason}") as caught:
        run(["fit", "-c", QUICKSTART, "--ckpt_path", str(path)])
    assert "weights_only=False" not in str(caught.value) and caught.value.__cause__ is None


def test_a_truncated_checkpoint_is_named_when_the_trainer_restores_it(tmp_path):
    path = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="cannot read checkpoint .*truncated.ckpt .*failed finding central directory"):
        AtomicCheckpointIO().load_checkpoint(path)


def test_a_model_option_that_differs_from_the_checkpoint_is_an_error(tmp_path, parse_only):
    ckpt = _checkpoint(tmp_path / "p.ckpt", lambda_L1=100.0, gan_mode="vanilla", ngf=16, ndf=32, num_downs=6)
    for subcommand in ("fit", "validate"):
        with pytest.raises(ValueError, match=r"--model.init_args.lambda_L1=50.0 differs from the checkpoint's lambda_L1=100.0"):
            run([subcommand, "-c", QUICKSTART, "--ckpt_path", str(ckpt), "--model.init_args.lambda_L1", "50"])
    with pytest.raises(ValueError, match=r"--model.init_args.gan_mode='lsgan' differs from the checkpoint's gan_mode='vanilla'"):
        run(["fit", "-c", QUICKSTART, "--ckpt_path", str(ckpt), "--model.gan_mode", "lsgan"])
    # The same value, a recipe value (the recipe's ngf 32 vs the checkpoint's 16), and an option the
    # checkpoint does not hold are no conflict; the checkpoint's values are the model's.
    cli = run(["fit", "-c", QUICKSTART, "--ckpt_path", str(ckpt), "--model.init_args.lambda_L1", "100", "--model.lr_g", "0.001"])
    hparams = cli.model.hparams
    assert (hparams.lambda_L1, hparams.gan_mode, hparams.ngf, hparams.lr_g) == (100.0, "vanilla", 16, 0.001)


def test_inference_options_apply_over_the_checkpoint_outside_fit(tmp_path, parse_only):
    ckpt = _checkpoint(tmp_path / "p.ckpt", inference_mode="eval", ngf=32, ndf=32, num_downs=6)
    cli = run(["validate", "-c", QUICKSTART, "--ckpt_path", str(ckpt), "--model.init_args.inference_mode", "train"])
    assert cli.model.hparams.inference_mode == "train"
    with pytest.raises(ValueError, match="inference_mode='train' differs from the checkpoint's inference_mode='eval'"):
        run(["fit", "-c", QUICKSTART, "--ckpt_path", str(ckpt), "--model.init_args.inference_mode", "train"])


def test_a_checkpoint_of_another_method_than_the_recipes_is_an_error(tmp_path, parse_only, capsys):
    ckpt = _checkpoint(tmp_path / "c.ckpt", "i2i_zoo.methods.CycleGAN", ngf=8, ndf=8)
    for subcommand in ("fit", "validate", "predict"):
        with pytest.raises(ValueError, match=r"c.ckpt holds a CycleGAN model, but the recipe or --model gives Pix2Pix"):
            run([subcommand, "-c", QUICKSTART, "--ckpt_path", str(ckpt)])
    # Without a recipe the checkpoint's method is used, and announced.
    cli = run(["predict", "--ckpt_path", str(ckpt), "--data.predict_dir", str(tmp_path)])
    assert type(cli.model).__name__ == "CycleGAN" and cli.model.hparams.ngf == 8
    assert "c.ckpt holds a CycleGAN model (PairedDataModule)" in capsys.readouterr().err


def test_a_class_a_checkpoint_names_is_never_imported_from_outside_the_package(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Pix2Pix: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ckpt = _checkpoint(tmp_path / "planted.ckpt", "planted.Pix2Pix")
    message = r"names the method class 'planted.Pix2Pix', which is not one of the registered methods"
    with pytest.raises(ValueError, match=message):
        run(["predict", "--ckpt_path", str(ckpt), "--data.predict_dir", str(tmp_path)])
    with pytest.raises(ValueError, match=message):
        run(["fit", "-c", QUICKSTART, "--ckpt_path", str(ckpt)])
    with pytest.raises(ValueError, match=message):
        load_method(ckpt)  # export
    with pytest.raises(ValueError, match=message):
        load_checkpoint(ckpt)  # convert to-original
    datamodule = tmp_path / "planted_data.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": PIX2PIX},
                "datamodule_hyper_parameters": {"_class_path": "planted.PairedDataModule"}}, datamodule)
    with pytest.raises(ValueError, match="names the datamodule class 'planted.PairedDataModule', which is not one of i2i-zoo's"):
        run(["predict", "--ckpt_path", str(datamodule), "--data.predict_dir", str(tmp_path)])
    assert not marker.exists() and "planted" not in sys.modules


def test_a_run_that_fails_before_training_leaves_no_log_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "quickstart" / "version_0").mkdir(parents=True)  # an earlier run's, kept
    (tmp_path / "runs" / "quickstart" / "version_0" / "metrics.csv").write_text("step\n")
    with pytest.raises(FileNotFoundError, match="missing/train does not exist"):
        run(["fit", "-c", QUICKSTART, "--data.root", str(tmp_path / "missing")])
    assert sorted(p.name for p in (tmp_path / "runs" / "quickstart").iterdir()) == ["version_0"]


def test_load_checkpoint_file_reads_a_local_file_with_weights_only(tmp_path):
    marker = tmp_path / "payload_ran"
    torch.save({"x": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"refused checkpoint .*evil.pt \(--weights\).*Unsupported global: GLOBAL io.open\)"):
        load_checkpoint_file(tmp_path / "evil.pt", "--weights")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match=r"nothing.ckpt \(--ckpt_path\) does not exist"):
        load_checkpoint_file(tmp_path / "nothing.ckpt")
