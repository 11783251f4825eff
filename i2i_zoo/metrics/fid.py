"""FID with a faster, exact trace term: on torchmetrics' states (sums synced across processes), or
from one group's features (`fid_of_features`, what `ImageQualityMetrics` uses)."""

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


def fid_of_features(real: Tensor, fake: Tensor) -> Tensor:
    """FID of two N x D feature sets, the statistics in float64 as torchmetrics' sums hold them:
    equal to `FrechetDistance` fed the same features, whatever the batches."""
    return frechet_distance(*_statistics(real), *_statistics(fake)).float()


def _statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    features = features.double()
    count = torch.tensor(len(features), dtype=torch.float64, device=features.device)
    return _mean_and_covariance(features.sum(0), features.T @ features, count)


def _mean_and_covariance(total: Tensor, outer_total: Tensor, count: Tensor) -> tuple[Tensor, Tensor]:
    mean = total / count
    return mean, (outer_total - count * torch.outer(mean, mean)) / (count - 1)
