"""FID with a faster, exact trace term: on torchmetrics' states (sums synced across processes), or
on one group's features or `FeatureSums` (what `ImageQualityMetrics` uses)."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.image import FrechetInceptionDistance


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).

    The eigenvalues of S1 S2 are those of the symmetric S1^1/2 S2 S1^1/2, so the trace term takes
    two symmetric eigendecompositions: no complex eigenvalues to discard, and 2-4x faster at 2048
    dimensions on CPU than the general eigenproblem (torchmetrics) or scipy's sqrtm (torch-fidelity).
    """
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma1)
    root = (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T
    product = torch.linalg.eigvalsh(root @ sigma2 @ root).clamp_min(0)
    return (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * product.sqrt().sum()


class FrechetDistance(FrechetInceptionDistance):
    """torchmetrics' FID (float64 feature sums, synced across processes) computed with
    `frechet_distance`."""

    def compute(self) -> Tensor:
        real = _mean_and_covariance(self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples)
        fake = _mean_and_covariance(self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples)
        return frechet_distance(*real, *fake).float()


class FeatureSums:
    """The float64 sum, sum of outer products and count of N x D features, as torchmetrics' FID
    holds them: 8 x (D^2 + D + 1) bytes (32 MB at D = 2048) whatever N."""

    def __init__(self, width: int, device: torch.device | str = "cpu"):
        self.total = torch.zeros(width, dtype=torch.float64, device=device)
        self.outer_total = torch.zeros(width, width, dtype=torch.float64, device=device)
        self.count = torch.zeros((), dtype=torch.float64, device=device)

    @classmethod
    def of(cls, features: Tensor) -> FeatureSums:
        sums = cls(features.shape[1], features.device)
        sums.add(features)
        return sums

    def add(self, features: Tensor) -> None:
        features = features.double()
        self.total += features.sum(0)
        self.outer_total += features.T @ features
        self.count += len(features)

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.total, self.outer_total, self.count

    def mean_and_covariance(self) -> tuple[Tensor, Tensor]:
        return _mean_and_covariance(*self.tensors())


def fid_of_sums(real: FeatureSums, fake: FeatureSums) -> Tensor:
    """FID of two sets' sums."""
    return frechet_distance(*real.mean_and_covariance(), *fake.mean_and_covariance()).float()


def fid_of_features(real: Tensor, fake: Tensor) -> Tensor:
    """FID of two N x D feature sets, the statistics in float64 as torchmetrics' sums hold them:
    equal to `FrechetDistance` fed the same features, whatever the batches."""
    return fid_of_sums(FeatureSums.of(real), FeatureSums.of(fake))


def _mean_and_covariance(total: Tensor, outer_total: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    mean = total / count
    return mean, (outer_total - count * torch.outer(mean, mean)) / (count - 1)
