import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

# A hub look-up without network waits ~47 s before failing; nothing in the tests may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
# Demo datasets are generated once into a cache shared by test runs and xdist workers.
os.environ.setdefault("I2I_ZOO_DEMO_DIR", str(Path(tempfile.gettempdir()) / "i2i_zoo_test_demo"))
# Cached real-image features (metrics) go to a folder of this session, never to ~/.cache.
os.environ["I2I_ZOO_CACHE"] = tempfile.mkdtemp(prefix="i2i_zoo_test_cache_")


@pytest.fixture(autouse=True)
def trainer_device(monkeypatch):
    """`I2I_ZOO_TEST_ACCELERATOR` / `I2I_ZOO_TEST_PRECISION` (e.g. gpu, bf16-mixed) become the
    defaults of every Trainer a test builds, so the learning tests can be rerun on a GPU in
    mixed precision (`I2I_ZOO_TEST_PRECISION=bf16-mixed pytest -k learns`); unset, nothing changes."""
    defaults = {
        key: os.environ[variable]
        for key, variable in (("accelerator", "I2I_ZOO_TEST_ACCELERATOR"), ("precision", "I2I_ZOO_TEST_PRECISION"))
        if os.environ.get(variable)
    }
    if defaults:
        from lightning.pytorch import Trainer

        init = Trainer.__init__
        monkeypatch.setattr(Trainer, "__init__", lambda self, *args, **kwargs: init(self, *args, **{**defaults, **kwargs}))


@pytest.fixture
def quiet_trainer(tmp_path):
    """A factory of CPU Trainers writing under the test's folder, with no logger, progress bar,
    model summary, checkpointing, sanity check or validation unless `options` ask for them."""
    from lightning.pytorch import Trainer

    def make(**options):
        settings = dict(
            accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=tmp_path,
        )
        return Trainer(**{**settings, **options})

    return make


@pytest.fixture
def demo_paired():
    """A factory for a small PairedDataModule on the `shapes` demo data (no worker processes)."""
    from i2i_zoo.data import PairedDataModule

    def make(**overrides):
        options = dict(root="demo:shapes", load_size=64, crop_size=64, batch_size=4, num_workers=0)
        return PairedDataModule(**{**options, **overrides})

    return make


# Tiny image folders in the paired and unpaired layouts, written with OpenCV.
def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write a uint8 HWC RGB (or HW gray) array; OpenCV expects BGR."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1] if rgb.ndim == 3 else rgb)
    return path


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def make_paired(tmp_path: Path) -> Callable[..., Path]:
    """Build ``root/<split>/`` folders of side-by-side AB images of ``size`` x ``2*size``."""

    def make(
        splits: tuple[str, ...] = ("train", "val", "test"), n: int = 3, size: int = 20,
        gray: bool = False,
    ) -> Path:
        root = tmp_path / "paired"
        for s, split in enumerate(splits):
            for i in range(n):
                shape = (size, 2 * size) if gray else (size, 2 * size, 3)
                write_rgb(root / split / f"{i:03d}.png", noise(shape, seed=100 * s + i))
        return root

    return make


@pytest.fixture
def make_unpaired(tmp_path: Path) -> Callable[..., Path]:
    """Build ``root/trainA, trainB, testA, testB`` with 3/5/2/2 images of ``size`` squared."""

    def make(channels_A: int = 3, channels_B: int = 3, size: int = 20) -> Path:
        root = tmp_path / "unpaired"
        counts = {"trainA": 3, "trainB": 5, "testA": 2, "testB": 2}
        for s, (folder, n) in enumerate(counts.items()):
            channels = channels_A if folder.endswith("A") else channels_B
            shape = (size, size) if channels == 1 else (size, size, 3)
            for i in range(n):
                write_rgb(root / folder / f"{i:03d}.png", noise(shape, seed=100 * s + i))
        return root

    return make


@pytest.fixture
def write_rgb_file() -> Callable[[Path, np.ndarray], Path]:
    """The ``write_rgb`` helper, for tests that build their own images."""
    return write_rgb
