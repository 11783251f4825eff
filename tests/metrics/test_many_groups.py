"""ImageQualityMetrics with hundreds of evaluation groups (one per target class): metric state
grows with the number of images, not of groups, and every group's FID/KID equals an independent
computation from its own features."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer
from scipy import linalg
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics import Metric

from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.metrics import ImageQualityMetrics
from i2i_zoo.metrics.features import PrecomputedFeatures, quantize
from i2i_zoo.metrics.fid import FrechetDistance

GROUPS, PER_GROUP = 300, 3


class Projection(nn.Module):
    """2048 features per image: a fixed random projection of its pixels."""

    def __init__(self, pixels: int):
        super().__init__()
        self.register_buffer("weight", torch.randn(pixels, 2048, generator=torch.Generator().manual_seed(0)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ self.weight


class Pooled(nn.Module):
    """12 features per image: its 2 x 2 average-pooled colours."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 2).flatten(1)


class ManyGroups(I2IMethod):
    """Image i belongs to group `c<i // PER_GROUP>`; its translation is the image plus noise seeded by i."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def optimizer_specs(self):
        return {"G": OptimizerSpec([self.weight], 1e-3)}

    def training_step(self, batch, batch_idx):
        pass

    def evaluation_images(self, batch):
        images, index = batch["B"], batch["index"]
        return {
            f"c{group}": EvalImages(fake=translate(images[index // PER_GROUP == group], index[index // PER_GROUP == group]), real=images[index // PER_GROUP == group])
            for group in sorted(set((index // PER_GROUP).tolist()))
        }


def translate(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    noise = torch.stack([torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(int(i))) for i in index])
    return (images + 0.3 * noise).clamp(-1, 1)


def dataset(size: int = 8) -> list[dict]:
    images = torch.rand(GROUPS * PER_GROUP, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return [{"B": image, "index": i} for i, image in enumerate(images)]


def state_bytes(metric: Metric) -> int:
    total = 0
    for name in metric._defaults:
        value = getattr(metric, name)
        for tensor in value if isinstance(value, list) else [value]:
            total += tensor.numel() * tensor.element_size()
    return total


def test_state_memory_grows_with_images_not_groups():
    callback = ImageQualityMetrics(metrics=["fid", "kid"], feature_extractor=Projection(3 * 4 * 4), cache_features=False)
    method = ManyGroups()
    callback.setup(Trainer(accelerator="cpu", logger=False), method, "validate")
    data = dataset(size=4)
    for start in range(0, len(data), 30):
        batch = {key: torch.stack([torch.as_tensor(d[key]) for d in data[start:start + 30]]) for key in ("B", "index")}
        callback._update(method, method.evaluation_images(batch))
    assert len(callback._groups) == GROUPS
    metrics = [callback._features, *(m for group in callback._groups.values() for m in group.values())]
    held = sum(state_bytes(m) for m in metrics)
    images = 2 * GROUPS * PER_GROUP  # real and translated
    # 2048 float32 features and an 8-byte group key per image; per-group sums would hold
    # 2 x 2048^2 float64 (64 MiB) per group, 18.75 GiB here.
    assert held == images * (2048 * 4 + 8)
    assert held < 16 * 2**20


def numpy_kid(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased polynomial-kernel MMD^2 of the two full sets (KID with one subset of all images)."""
    kernel = lambda x, y: (x @ y.T / x.shape[1] + 1) ** 3  # noqa: E731
    m = len(real)
    off_diagonal = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off_diagonal(kernel(real, real)) + off_diagonal(kernel(fake, fake)) - 2 * kernel(real, fake).mean())


def numpy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    trace_root = np.sqrt(np.clip(linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def test_every_groups_fid_and_kid_equal_an_independent_computation():
    # KID subsets of 3 of a group's 3 images are all its images: KID is the full sets' MMD, std 0.
    callback = ImageQualityMetrics(metrics=["fid", "kid"], feature_extractor=Pooled(), kid_subset_size=PER_GROUP, kid_subsets=2, cache_features=False)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    data = dataset()
    (logged,) = trainer.validate(ManyGroups(), dataloaders=DataLoader(data, batch_size=32), verbose=False)

    images = torch.stack([d["B"] for d in data])
    fakes = translate(images, torch.arange(len(images)))
    features = [Pooled()(quantize(x).float() / 255) for x in (images, fakes)]
    fids, kids = [], []
    for group in range(GROUPS):
        real, fake = (f[group * PER_GROUP:(group + 1) * PER_GROUP] for f in features)
        summed = FrechetDistance(PrecomputedFeatures(real.shape[1]))  # today's sum-based metric
        summed.update(real, real=True)
        summed.update(fake, real=False)
        fids.append(numpy_fid(real.double().numpy(), fake.double().numpy()))
        kids.append(numpy_kid(real.double().numpy(), fake.double().numpy()))
        assert logged[f"val/fid_c{group}"] == pytest.approx(summed.compute().item(), rel=1e-6)
        assert logged[f"val/fid_c{group}"] == pytest.approx(fids[-1], rel=1e-5)
        assert logged[f"val/kid_mean_c{group}"] == pytest.approx(kids[-1], rel=1e-4, abs=1e-6)  # float32, as torchmetrics computes it
        assert logged[f"val/kid_std_c{group}"] == pytest.approx(0, abs=1e-6)
    assert logged["val/mfid"] == pytest.approx(np.mean(fids), rel=1e-5)
    assert logged["val/mkid_mean"] == pytest.approx(np.mean(kids), rel=1e-5)
    assert callback._features.real_features == callback._features.fake_features == []  # reset after logging
