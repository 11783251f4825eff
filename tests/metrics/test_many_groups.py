"""ImageQualityMetrics with hundreds of evaluation groups (one per target class) and with one big
group: each group side holds its features while they are fewer than 2 x D, and float64 sums
once they would cost more (FID only: KID keeps every feature), so memory is bounded by the
images and by the groups at once; every group's FID/KID equals an independent computation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, Trainer
from scipy import linalg
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.metrics import ImageQualityMetrics
from i2i_zoo.metrics.features import PrecomputedFeatures, quantize
from i2i_zoo.metrics.fid import FrechetDistance, fid_of_features

GROUPS, PER_GROUP = 555, 3  # DeepI2I's NABirds has 555 classes


class Projection(nn.Module):
    """`width` features per image: a fixed random projection of its pixels."""

    def __init__(self, pixels: int, width: int):
        super().__init__()
        self.register_buffer("weight", torch.randn(pixels, width, generator=torch.Generator().manual_seed(0)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ self.weight


class Repeated(nn.Module):
    """`width` features per image: its pixels over and over (memory tests need the width only, and
    a wide projection of many small batches is slow on a busy CPU)."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.flatten(1)
        return pixels[:, torch.arange(self.width) % pixels.shape[1]]


class Pooled(nn.Module):
    """12 features per image: its 2 x 2 average-pooled colours."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 2).flatten(1)


class ManyGroups(I2IMethod):
    """Each image's group is its `group` label (`c<label>`); its translation is the image plus
    noise seeded by its `index`."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def optimizer_specs(self):
        return {"G": OptimizerSpec([self.weight], 1e-3)}

    def training_step(self, batch, batch_idx):
        pass

    def evaluation_images(self, batch):
        images, index, labels = batch["B"], batch["index"], batch["group"]
        return {
            f"c{label}": EvalImages(fake=translate(images[labels == label], index[labels == label]), real=images[labels == label])
            for label in sorted(set(labels.tolist()))
        }


def translate(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    noise = torch.stack([torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(int(i))) for i in index])
    return (images + 0.3 * noise).clamp(-1, 1)


def dataset(sizes: list[int], size: int = 8, interleave: bool = False) -> list[dict]:
    """`sizes[g]` images of group g, group after group or interleaved in a fixed random order."""
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    if interleave:
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(2))]
    images = torch.rand(len(labels), 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return [{"B": image, "index": i, "group": int(label)} for i, (image, label) in enumerate(zip(images, labels))]


def held_bytes(store) -> int:
    """Bytes of the storage of every tensor reachable from `store`'s attributes (through lists,
    dicts, tuples and objects), each storage counted once."""
    storages, pending = {}, [store]
    while pending:
        value = pending.pop()
        if isinstance(value, torch.Tensor):
            storages[value.untyped_storage().data_ptr()] = value.untyped_storage().nbytes()
        elif isinstance(value, dict):
            pending += [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple)):
            pending += value
        elif hasattr(value, "__dict__"):
            pending += vars(value).values()
    return sum(storages.values())


def sums_bytes(width: int) -> int:
    """A side's float64 sum, outer-product sum and count."""
    return 8 * (width + width * width + 1)


def side_bytes(images: int, width: int, fold: bool = True) -> int:
    """What one group side holds by the rule: float32 rows below 2 x D, then the sums."""
    return sums_bytes(width) if fold and images >= 2 * width else images * width * 4


class HeldMemory(Callback):
    """After each validation batch (and ImageQualityMetrics' own hook), the bytes its store holds
    and the group sides it has folded."""

    def __init__(self, metrics: ImageQualityMetrics):
        self.metrics = metrics
        self.held: list[int] = []
        self.folded: set = set()

    def on_validation_batch_end(self, *args, **kwargs):
        self.held.append(held_bytes(self.metrics._features))
        self.folded = set(self.metrics._features.folded)


def validate(callback: ImageQualityMetrics, data: list[dict], batch_size: int) -> tuple[dict, HeldMemory]:
    memory = HeldMemory(callback)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[callback, memory])
    (logged,) = trainer.validate(ManyGroups(), dataloaders=DataLoader(data, batch_size=batch_size), verbose=False)
    return logged, memory


def features_of(data: list[dict], extractor: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The real and translated images' features, and the group labels, as the callback sees them."""
    images = torch.stack([d["B"] for d in data])
    fakes = translate(images, torch.tensor([d["index"] for d in data]))
    real, fake = (extractor(quantize(x).float() / 255) for x in (images, fakes))
    return real, fake, torch.tensor([d["group"] for d in data])


def summed_fid(real: torch.Tensor, fake: torch.Tensor, batch_size: int = 16) -> float:
    """torchmetrics' sum-based FID (our FrechetDistance), fed batch by batch."""
    metric = FrechetDistance(PrecomputedFeatures(real.shape[1]))
    for batch in real.split(batch_size):
        metric.update(batch, real=True)
    for batch in fake.split(batch_size):
        metric.update(batch, real=False)
    return metric.compute().item()


def fill(callback: ImageQualityMetrics, data: list[dict], batch_size: int = 30) -> None:
    """Hands `data` batch by batch to the callback's update, as validation would."""
    method = ManyGroups()
    callback.setup(Trainer(accelerator="cpu", logger=False), method, "validate")
    for start in range(0, len(data), batch_size):
        batch = {key: torch.tensor([d[key] for d in data[start:start + batch_size]]) for key in ("index", "group")}
        batch["B"] = torch.stack([d["B"] for d in data[start:start + batch_size]])
        callback.update(method, method.evaluation_images(batch))


@pytest.mark.parametrize("metrics", [["fid"], ["fid", "kid"]])
def test_many_small_groups_hold_their_features_not_sums(metrics):
    width = 2048  # Inception's: a side would fold at 4096 images
    callback = ImageQualityMetrics(metrics=metrics, feature_extractor=Repeated(width), cache_features=False)
    fill(callback, dataset([PER_GROUP] * GROUPS, size=4))
    assert len(callback._groups) == GROUPS and not callback._features.folded
    held = held_bytes(callback._features)
    # Float32 rows of real and translated images (27 MB); per-group sums would hold 64 MiB a group (35 GiB).
    assert held == 2 * GROUPS * side_bytes(PER_GROUP, width)


def test_many_groups_fold_where_rows_would_cost_more_than_sums():
    width, sizes = 8, [1 + g % 40 for g in range(GROUPS)]  # sides fold at 16 rows
    callback = ImageQualityMetrics(metrics=["fid"], feature_extractor=Projection(3 * 4 * 4, width), cache_features=False)
    fill(callback, dataset(sizes, size=4))
    assert callback._features.folded.keys() == {(f"c{g}", real) for g, n in enumerate(sizes) if n >= 2 * width for real in (True, False)}
    held = held_bytes(callback._features)
    assert held == 2 * sum(side_bytes(n, width) for n in sizes)
    # Within one sums' overshoot per side of the cheaper of rows and sums, side by side.
    assert held <= 2 * sum(min(n * width * 4, sums_bytes(width)) + 8 * width + 8 for n in sizes)


def test_one_big_fid_only_group_stops_growing_at_its_sums():
    width, images, batch = 8, 120, 5  # sides fold at 16 rows: in the 4th batch
    data = dataset([images])
    callback = ImageQualityMetrics(metrics=["fid"], feature_extractor=Projection(3 * 8 * 8, width), cache_features=False)
    logged, memory = validate(callback, data, batch)
    assert memory.folded == {("c0", True), ("c0", False)}
    assert memory.held == [2 * side_bytes(n, width) for n in range(batch, images + 1, batch)]
    assert memory.held[3:] == [2 * sums_bytes(width)] * (images // batch - 3)  # no growth after folding
    real, fake, _ = features_of(data, Projection(3 * 8 * 8, width))
    assert logged["val/fid"] == pytest.approx(summed_fid(real, fake), rel=1e-6)
    assert logged["val/fid"] == pytest.approx(fid_of_features(real, fake).item(), rel=1e-6)


def test_with_kid_nothing_folds_and_kid_sees_every_feature():
    width, images, batch = 8, 120, 5
    data = dataset([images])
    callback = ImageQualityMetrics(metrics=["fid", "kid"], feature_extractor=Projection(3 * 8 * 8, width), kid_subset_size=images, kid_subsets=2, cache_features=False)
    logged, memory = validate(callback, data, batch)
    assert not memory.folded
    assert memory.held == [2 * side_bytes(n, width, fold=False) for n in range(batch, images + 1, batch)]
    real, fake, _ = features_of(data, Projection(3 * 8 * 8, width))
    # KID subsets of all images: the full sets' MMD, std 0.
    assert logged["val/kid_mean"] == pytest.approx(numpy_kid(real.double().numpy(), fake.double().numpy()), rel=1e-4, abs=1e-6)
    assert logged["val/kid_std"] == pytest.approx(0, abs=1e-6)
    assert logged["val/fid"] == pytest.approx(summed_fid(real, fake), rel=1e-6)


def test_folded_and_unfolded_groups_log_the_sum_based_fid():
    sizes = [2, 3, 23, 24, 25, 40, 97]  # Pooled's 12 features: sides fold at 24 rows
    data = dataset(sizes, interleave=True)  # a group's rows arrive over several batches
    logged, memory = validate(ImageQualityMetrics(metrics=["fid"], feature_extractor=Pooled(), cache_features=False), data, 16)
    assert {group for group, _ in memory.folded} == {f"c{g}" for g, n in enumerate(sizes) if n >= 24}
    real, fake, labels = features_of(data, Pooled())
    fids = [summed_fid(real[labels == g], fake[labels == g]) for g in range(len(sizes))]
    for group, fid in enumerate(fids):
        assert logged[f"val/fid_c{group}"] == pytest.approx(fid, rel=1e-6)
    assert logged["val/mfid"] == pytest.approx(np.mean(fids), rel=1e-6)


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
    data = dataset([PER_GROUP] * GROUPS)
    logged, _ = validate(callback, data, 32)

    real_features, fake_features, labels = features_of(data, Pooled())
    fids, kids = [], []
    for group in range(GROUPS):
        real, fake = real_features[labels == group], fake_features[labels == group]
        fids.append(numpy_fid(real.double().numpy(), fake.double().numpy()))
        kids.append(numpy_kid(real.double().numpy(), fake.double().numpy()))
        assert logged[f"val/fid_c{group}"] == pytest.approx(summed_fid(real, fake), rel=1e-6)
        assert logged[f"val/fid_c{group}"] == pytest.approx(fids[-1], rel=1e-5)
        assert logged[f"val/kid_mean_c{group}"] == pytest.approx(kids[-1], rel=1e-4, abs=1e-6)  # float32, as torchmetrics computes it
        assert logged[f"val/kid_std_c{group}"] == pytest.approx(0, abs=1e-6)
    assert logged["val/mfid"] == pytest.approx(np.mean(fids), rel=1e-5)
    assert logged["val/mkid_mean"] == pytest.approx(np.mean(kids), rel=1e-5)
    assert held_bytes(callback._features) == 0  # reset after logging
