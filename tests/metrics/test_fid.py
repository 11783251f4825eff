"""The Fréchet distance against scipy's matrix square root, full-rank and rank-deficient."""

import numpy as np
import pytest
import torch
from scipy import linalg

from i2i_zoo.metrics.features import PrecomputedFeatures
from i2i_zoo.metrics.fid import FrechetDistance, fid_of_features, frechet_distance


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


@pytest.mark.parametrize("samples", [200, 20])  # more and fewer samples than dimensions
def test_frechet_distance_matches_scipy(samples):
    generator = torch.Generator().manual_seed(samples)
    mixing = torch.randn(32, 32, generator=generator, dtype=torch.float64)
    real = torch.randn(samples, 32, generator=generator, dtype=torch.float64) @ mixing
    fake = torch.randn(samples, 32, generator=generator, dtype=torch.float64) * 1.5 + 0.3
    metric = FrechetDistance(PrecomputedFeatures(32))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    expected = scipy_fid(real.numpy(), fake.numpy())
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5)
    assert frechet_distance(real.mean(0), torch.cov(real.T), real.mean(0), torch.cov(real.T)).abs() < 1e-6 * expected


@pytest.mark.parametrize("samples", [300, 3])  # full-rank and a 3-image group
def test_fid_of_features_equals_the_sum_based_metric(samples):
    generator = torch.Generator().manual_seed(samples)
    real = torch.randn(samples, 256, generator=generator) @ torch.randn(256, 256, generator=generator) / 16
    fake = torch.randn(samples, 256, generator=generator) * 1.5 + 0.3
    metric = FrechetDistance(PrecomputedFeatures(256))
    for batch in real.split(7):  # torchmetrics' sums, batch by batch
        metric.update(batch, real=True)
    for batch in fake.split(5):
        metric.update(batch, real=False)
    assert fid_of_features(real, fake).item() == pytest.approx(metric.compute().item(), rel=1e-6)
