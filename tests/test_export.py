import copy
from pathlib import Path

import onnxruntime
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.cli import run
from i2i_zoo.export import export_generator_file
from i2i_zoo.methods import CycleGAN, I2IMethod, Pix2Pix, SPL, SPLReferenceTransfer, SPLSuperResolution


TINY_PIX2PIX = dict(ngf=8, ndf=8, num_downs=5, image_size=32)


def images(*shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(7)) * 2 - 1


def run_exported(path: Path, x: torch.Tensor) -> torch.Tensor:
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(["translated"], {"image": x.numpy()})[0])
    return torch.export.load(path).module()(x)


def assert_matches(path: Path, generator: nn.Module, x: torch.Tensor) -> None:
    generator = copy.deepcopy(generator).eval()
    with torch.no_grad():
        expected = generator(x)
        actual = run_exported(path, x)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() <= 1e-4


@pytest.fixture(scope="module")
def pix2pix() -> Pix2Pix:
    torch.manual_seed(0)
    model = Pix2Pix(**TINY_PIX2PIX)
    # Running statistics unlike a fresh batch norm's, so eval mode makes a difference.
    for module in model.G.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def cyclegan() -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(channels_A=1, channels_B=3, generator="resnet_6blocks", ngf=8, ndf=8, lambda_identity=0, image_size=32)


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_unet_export_matches_pytorch_on_other_batch_and_size(pix2pix, tmp_path, format):
    path = export_generator_file(pix2pix, tmp_path / f"G.{format}", format, example_size=64)
    assert path.is_file() and not list(tmp_path.glob(".*partial*"))
    assert pix2pix.G.training  # the export works on a copy
    assert_matches(path, pix2pix.G, images(3, 3, 32, 96))  # traced: 2x3x64x64
    if format == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_cyclegan_btoa_exports_f_with_dynamic_sides(cyclegan, tmp_path, format):
    path = export_generator_file(cyclegan, tmp_path / f"F.{format}", format, direction="BtoA")
    x = images(3, 3, 36, 44)  # traced: 2x3x64x64
    assert run_exported(path, x).shape == (3, 1, 36, 44)  # F: B (3 channels) -> A (1 channel)
    assert_matches(path, cyclegan.F, x)
    if format == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_spl_resnet_exports_with_batch_statistics_and_dynamic_sides(tmp_path, capsys, format):
    """The authors' ResNet normalises by the batch's statistics in eval mode too, and crops its
    transposed convs' outputs: both must survive export at other batch sizes and sides."""
    torch.manual_seed(0)
    model = SPL(ngf=8, n_blocks=1)
    path = export_generator_file(model, tmp_path / f"G.{format}", format, example_size=32)
    assert "H and W multiples of 4" in capsys.readouterr().out
    assert_matches(path, model.G, images(3, 3, 20, 28))
    assert_matches(path, model.G, images(1, 3, 36, 16))


def test_super_resolution_exports_the_upscaling_network(tmp_path):
    torch.manual_seed(0)
    model = SPLSuperResolution(scale=4, num_features=8, num_blocks=1)
    path = export_generator_file(model, tmp_path / "G.onnx", "onnx", example_size=16)
    x = images(1, 3, 10, 14)
    assert run_exported(path, x).shape == (1, 3, 40, 56)
    assert_matches(path, model.G, x)


def test_reference_transfer_exports_the_six_channel_network(tmp_path):
    torch.manual_seed(0)
    model = SPLReferenceTransfer(ngf=8, n_blocks=1)
    path = export_generator_file(model, tmp_path / "G.pt2", "pt2", example_size=32)
    source, reference = images(2, 3, 24, 36).chunk(2)
    exported = run_exported(path, torch.cat([source, reference], 1))
    with torch.no_grad():
        torch.testing.assert_close(exported, model.eval().translate(source, reference), atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def python_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of `Trainer.fit` on a Pix2Pix built in Python: its hyperparameters name no class."""
    torch.manual_seed(0)
    model = Pix2Pix(**TINY_PIX2PIX)
    batches = [{"A": images(3, 32, 32), "B": images(3, 32, 32)}] * 2
    trainer = Trainer(
        max_epochs=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(model, DataLoader(batches, batch_size=2))
    path = tmp_path_factory.mktemp("ckpt") / "python.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_cli_needs_model_class_for_checkpoint_without_class_path(python_checkpoint, tmp_path):
    output = tmp_path / "G.onnx"
    with pytest.raises(ValueError, match="no _class_path.*--model_class"):
        run(["export", "--ckpt", str(python_checkpoint), "--format", "onnx", "--output", str(output)])
    with pytest.raises(ValueError, match="--model_class 'Pix2pix': method 'Pix2pix' is not registered; the zoo has Pix2Pix, Cycle"):
        run(["export", "--ckpt", str(python_checkpoint), "--format", "onnx", "--output", str(output), "--model-class", "Pix2pix"])
    # --ckpt_path, as predict spells it, is the same option.
    run(["export", "--ckpt_path", str(python_checkpoint), "--format", "onnx", "--output", str(output), "--model-class", "Pix2Pix"])
    trained = Pix2Pix.load_from_checkpoint(python_checkpoint, map_location="cpu")
    assert_matches(output, trained.G, images(1, 3, 96, 64))


def test_cli_reads_class_path_of_lightning_cli_checkpoint(python_checkpoint, tmp_path, capsys):
    # The hyperparameters LightningCLI writes: the class path and its instantiator besides the init args.
    checkpoint = torch.load(python_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"].update(
        _class_path="i2i_zoo.methods.Pix2Pix", _instantiator="lightning.pytorch.cli.instantiate_module"
    )
    path = tmp_path / "cli.ckpt"
    torch.save(checkpoint, path)
    run(["export", "--ckpt", str(path), "--format", "pt2"])
    assert "H and W multiples of 32 from 32" in capsys.readouterr().out
    trained = Pix2Pix.load_from_checkpoint(python_checkpoint, map_location="cpu")
    assert_matches(tmp_path / "cli.pt2", trained.G, images(2, 3, 32, 32))


def test_clear_errors(pix2pix, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*missing.ckpt \(--ckpt\) does not exist"):
        run(["export", "--ckpt", str(tmp_path / "missing.ckpt")])
    with pytest.raises(SystemExit):
        run(["export", "--ckpt", str(tmp_path / "missing.ckpt"), "--format", "tflite"])
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="format 'tflite' is unknown"):
        export_generator_file(pix2pix, tmp_path / "G.tflite", "tflite")
    with pytest.raises(ValueError, match=r"should end in \.pt2"):
        export_generator_file(pix2pix, tmp_path / "G.onnx", "pt2")
    with pytest.raises(ValueError, match="example size 48 .* multiple of 32 of at least 64"):
        export_generator_file(pix2pix, tmp_path / "G.pt2", "pt2", example_size=48)
    with pytest.raises(ValueError, match="cannot take 8x8 images"):
        export_generator_file(StandIn(Padded()), tmp_path / "F.pt2", "pt2", example_size=8)
    with pytest.raises(ValueError, match=r"takes the conditions none, not \['direction'\]"):
        export_generator_file(pix2pix, tmp_path / "G.pt2", "pt2", direction="BtoA")
    with pytest.raises(RuntimeError, match="differs from PyTorch by up to .* nothing written"):
        export_generator_file(StandIn(Padded()), tmp_path / "net.pt2", "pt2", example_size=16, atol=-1)
    assert not list(tmp_path.iterdir())


class StandIn(I2IMethod):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def export_generator(self) -> nn.Module:
        return self.net


class Padded(nn.Module):
    """Reflection padding of 10 needs sides above 10: 12 is the smallest multiple of 4 it takes."""

    in_channels = 3
    size_multiple = 4

    def __init__(self):
        super().__init__()
        self.pad, self.conv = nn.ReflectionPad2d(10), nn.Conv2d(3, 3, 21)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(self.pad(x)))


class WidthDependent(nn.Module):
    """Branches on the image width, which torch.export cannot keep dynamic."""

    in_channels = 3
    size_multiple = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x * 2) if x.shape[-1] == 64 else x


def test_smallest_side_is_the_smallest_the_net_takes(tmp_path, capsys):
    torch.manual_seed(0)
    net = Padded()
    path = export_generator_file(StandIn(net), tmp_path / "net.pt2", "pt2", example_size=16)
    assert "H and W multiples of 4 from 12" in capsys.readouterr().out
    assert_matches(path, net, images(3, 3, 12, 20))
    with pytest.raises(Exception, match="Guard failed"):
        run_exported(path, images(1, 3, 8, 8))


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_static_sides_where_dynamic_ones_fail(tmp_path, capsys, format):
    with pytest.warns(UserWarning, match=r"cannot be exported with dynamic height and width \(Constraints violated"):
        path = export_generator_file(StandIn(WidthDependent()), tmp_path / f"net.{format}", format, example_size=64)
    assert "H and W fixed to 64" in capsys.readouterr().out
    assert_matches(path, WidthDependent(), images(3, 3, 64, 64))
    if format == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape == ["batch", 3, 64, 64]
    else:
        with pytest.raises(Exception, match="Guard failed"):
            run_exported(path, images(1, 3, 32, 32))


@pytest.mark.parametrize("format", ["onnx", "pt2"])
def test_deepi2i_exports_its_translator_at_its_image_size(tmp_path, capsys, format):
    from i2i_zoo.methods import DeepI2I

    torch.manual_seed(0)
    model = DeepI2I(domains=["red", "blue"], image_size=32, G_ch=4, D_ch=4, dim_z=8, shared_dim=8, G_attn=[], D_attn=[], from_scratch=True)
    z = torch.randn(model.G.dim_z)
    # The encoder takes image_size x image_size only: the sides are fixed.
    with pytest.warns(UserWarning, match="cannot be exported with dynamic height and width"):
        path = export_generator_file(model, tmp_path / f"deepi2i.{format}", format, example_size=32, target_class="blue", z=z)
    assert "H and W fixed to 32" in capsys.readouterr().out
    assert_matches(path, model.export_generator("blue", z), images(3, 3, 32, 32))
