"""benchmarks/sensitivity.py: the errors on hand-made networks whose answer is known, and the
command line end to end on tiny, untrained CycleGAN and AsymGAN checkpoints."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import lightning
import pytest
import torch
from torch.nn.functional import interpolate

from i2i_zoo.data.demo import ensure_demo
from i2i_zoo.methods.asymgan import AsymGAN
from i2i_zoo.methods.registry import METHODS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sensitivity.py"
SIDE = 32


@pytest.fixture(scope="module")
def bench():
    """The script as a module, from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("sensitivity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def bilinear(x: torch.Tensor, side: int) -> torch.Tensor:
    return interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def per_image_mean(difference: torch.Tensor) -> float:
    return difference.abs().flatten(1).mean(1).mean().item()


def test_identity_cycle_errors_are_the_disturbances_own_sizes(bench):
    x, std, seed = images(5), 0.05, 3
    identity = bench.CyclePair(lambda v: v, lambda y: y)
    # Batches of 2, 2 and 1: the noise must not depend on how images are batched.
    results = bench.sensitivity({"identity": identity}, x.split(2), noise_std=std, seed=seed)["identity"]

    # 32 px: a centre crop of 31.25 -> 31 pixels (from row and column (32 - 31) // 2 = 0), a resize
    # to 32.5 -> 33 (rounded half up).
    generator = torch.Generator().manual_seed(seed)
    noise = std * torch.stack([torch.randn(3, SIDE, SIDE, generator=generator) for _ in range(5)])
    expected = {
        "cycle": 0.0,
        "crop": per_image_mean(bilinear(x[..., :31, :31], SIDE) - x),
        "resize": per_image_mean(bilinear(bilinear(x, 33), SIDE) - x),
        "noise": noise.abs().mean().item(),
    }
    assert results["error"] == pytest.approx(expected, abs=1e-6)
    assert results["size"] == pytest.approx({k: v for k, v in expected.items() if k != "cycle"}, abs=1e-6)
    assert expected["noise"] == pytest.approx(std * math.sqrt(2 / math.pi), rel=0.03)  # E|N(0, std)|
    assert expected["crop"] > 0.01 and expected["resize"] > 0.01  # neither is a no-op at 32 px


def test_reconstruction_that_ignores_the_intermediate_image_does_not_react(bench):
    x = images(3)
    # F returns a constant / only uses the code, as a pair that carries everything in z would.
    constant = bench.CyclePair(lambda v: v.tanh(), lambda y: torch.full_like(y, 0.3))
    code_only = bench.CyclePair(
        lambda v: v.mean(1, keepdim=True).expand_as(v), lambda y, z: z.expand_as(y),
        encode=lambda v: v.mean((2, 3), keepdim=True),
    )
    results = bench.sensitivity({"constant": constant, "code only": code_only}, [x], noise_std=0.1)
    for name in results:
        assert all(results[name]["error"][kind] == 0 for kind in bench.DISTURBANCES), name
        assert all(results[name]["size"][kind] > 0 for kind in bench.DISTURBANCES), name
        assert results[name]["error"]["cycle"] > 0


def test_small_images_and_negative_noise_are_refused(bench):
    identity = bench.CyclePair(lambda v: v, lambda y: y)
    with pytest.raises(ValueError, match="16 px are too small .*--image-size.*at least 32 px"):
        bench.sensitivity({"identity": identity}, [torch.zeros(1, 3, 16, 16)])
    with pytest.raises(ValueError, match="--noise-std.*-0.1"):
        bench.sensitivity({"identity": identity}, [images(1)], noise_std=-0.1)
    assert bench.disturbance_sides(128) == (125, 130) and bench.disturbance_sides(256) == (250, 260)


def write_checkpoint(model, path: Path) -> Path:
    """What `load_method` reads: the weights, the init arguments and the Lightning version (its
    loader migrates from it); no training needed."""
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sensitivity")
    cyclegan = METHODS["CycleGAN"].build()
    # The demo's B images are the photos: X. Default z injection (CIN) works at 32 px.
    asymgan = AsymGAN(rich_domain="B", image_size=SIDE, ngf=8, ndf=8, pool_size=2, lambda7=0, lambda8=0)
    return write_checkpoint(cyclegan, folder / "cyclegan.ckpt"), write_checkpoint(asymgan, folder / "asymgan.ckpt")


def test_command_line_on_tiny_checkpoints(bench, checkpoints, tmp_path, capsys):
    cyclegan, asymgan = checkpoints
    output = tmp_path / "out" / "sensitivity.json"
    args = ["--cyclegan", str(cyclegan), "--asymgan", str(asymgan), "--data", str(ensure_demo("shapes", "unpaired")),
            "--limit", "3", "--batch-size", "2", "--json", str(output)]  # fmt: skip
    report = bench.main(args)

    table = capsys.readouterr().out
    cells = [line.split() for line in table.splitlines()]
    rows = {row[0]: row[1:] for row in cells if row and row[0] in ("cycle", *bench.DISTURBANCES)}
    assert set(rows) == {"cycle", "crop", "resize", "noise"}
    for cells in rows.values():
        assert all(math.isfinite(float(cell)) and float(cell) >= 0 for cell in cells[:2])
    assert report["images"] == 3 and report["image_size"] == SIDE and report["cyclegan_rich_domain"] == "B"
    assert report["folder"].endswith("testB") and report["noise_std"] == bench.DEFAULT_NOISE_STD
    assert json.loads(output.read_text()) == report


def test_command_line_errors_name_what_is_missing(bench, checkpoints, tmp_path):
    cyclegan, asymgan = checkpoints
    base = ["--cyclegan", str(cyclegan), "--asymgan", str(asymgan)]
    with pytest.raises(FileNotFoundError, match=r"nowhere.testB does not exist: expected the unpaired layout"):
        bench.main([*base, "--data", str(tmp_path / "nowhere")])
    with pytest.raises(FileNotFoundError, match=r"missing.ckpt \(--asymgan\) does not exist"):
        bench.main(["--cyclegan", str(cyclegan), "--asymgan", str(tmp_path / "missing.ckpt"), "--data", str(tmp_path)])
    (tmp_path / "data" / "testB").mkdir(parents=True)
    (tmp_path / "data" / "testB" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*broken.png"):
        bench.main([*base, "--data", str(tmp_path / "data")])
    with pytest.raises(ValueError, match="--image-size 36 should be a multiple of 8"):
        bench.main([*base, "--data", str(tmp_path / "data"), "--image-size", "36"])
