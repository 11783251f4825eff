"""Times i2i_zoo's FID against torch-fidelity's on the same 8-bit images with the same Inception
weights, and checks that the two values agree (the benchmark's correctness check; speed is only
reported). Also times the Frechet distance step alone at 2048 dimensions: seconds on a CPU
whatever the number of images, so it dominates a FID of a few dozen images.

    python benchmarks/fid_speed.py --num-images 200 --size 64 --device cpu

Exits with status 1 when the two FIDs differ by more than --tolerance (relative).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.linalg
import skimage.data
import torch
import torch.nn.functional as F
import torch_fidelity
from torch import Tensor
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torchmetrics.image.fid import _compute_fid

from i2i_zoo.metrics.features import PrecomputedFeatures, quantize
from i2i_zoo.metrics.fid import FrechetDistance, frechet_distance
from i2i_zoo.metrics.inception import InceptionV3FID, load_fid_inception, resolve_fid_weights

# scikit-image's bundled colour photographs that are CC0 or public domain (see their docstrings).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=200, help="images in each of the two sets")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--images", choices=("smooth", "photos"), default="smooth",
                        help="random smooth colour fields, or random crops of scikit-image's CC0 photographs")
    parser.add_argument("--noise", type=float, default=0.1,
                        help="std of the noise added to the second set ([-1, 1] scale)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--weights", default=None, help="FID Inception weights (default: resolve_fid_weights())")
    parser.add_argument("--warmup-images", type=int, default=4,
                        help="run both pipelines once on this many images before timing (0: no warm-up)")
    parser.add_argument("--distance-repeats", type=int, default=1,
                        help="time each distance method this many times, keep the best (0: skip)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest relative difference of the two FIDs")
    args = parser.parse_args(argv)
    if args.num_images < 2 or args.warmup_images == 1:
        parser.error("a covariance needs at least 2 images (--num-images, --warmup-images)")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    return args


# ---------------------------------------------------------------------------------------- images
def smooth_images(n: int, size: int, generator: torch.Generator) -> Tensor:
    """Random low-frequency colour fields in [-1, 1]: 4 x 4 noise upsampled bicubically."""
    coarse = torch.randn(n, 3, 4, 4, generator=generator) * 0.6
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def photo_crops(n: int, size: int, generator: torch.Generator) -> Tensor:
    """Square crops of random position and scale from the PHOTOS, resized to `size`, in [-1, 1]."""
    photos = [torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1) / 127.5 - 1 for name in PHOTOS]
    crops = []
    for _ in range(n):
        photo = photos[int(torch.randint(len(photos), (), generator=generator))]
        height, width = photo.shape[1:]
        side = int(torch.randint(size, min(height, width) + 1, (), generator=generator))
        top = int(torch.randint(height - side + 1, (), generator=generator))
        left = int(torch.randint(width - side + 1, (), generator=generator))
        crop = photo[None, :, top : top + side, left : left + side]
        crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(crops).clamp(-1, 1)


def image_sets(args: argparse.Namespace) -> tuple[Tensor, Tensor]:
    """Two sets of 8-bit N x 3 x H x W images: 'real' ones, and other images of the same kind plus
    noise as 'fake' ones (a FID well above zero). Both FIDs read exactly these pixels."""
    make = smooth_images if args.images == "smooth" else photo_crops
    generator = torch.Generator().manual_seed(args.seed)
    real = make(args.num_images, args.size, generator)
    other = make(args.num_images, args.size, generator)
    fake = other + args.noise * torch.randn(other.shape, generator=generator)
    return quantize(real), quantize(fake)


# ------------------------------------------------------------------------------------------ FIDs
def fid_ours(
    real: Tensor, fake: Tensor, weights: Path, device: torch.device, batch_size: int
) -> tuple[float, FrechetDistance]:
    """i2i_zoo's FID as ImageQualityMetrics computes it: float32 features (no autocast; TF32 is
    off in main) summed by the torchmetrics metric. Also returns the metric, for its statistics."""
    extractor = load_fid_inception(weights).to(device)
    metric = FrechetDistance(PrecomputedFeatures(extractor.num_features)).to(device)
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        for pixels, is_real in ((real, True), (fake, False)):
            for batch in pixels.split(batch_size):
                metric.update(extractor(batch.to(device).float() / 255), real=is_real)
        return metric.compute().item(), metric


class Pixels(Dataset):
    """uint8 3 x H x W images, the input torch-fidelity takes from a Dataset."""

    def __init__(self, pixels: Tensor):
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> Tensor:
        return self.pixels[index]


def write_fidelity_weights(extractor: InceptionV3FID, directory: Path) -> Path:
    """The extractor's weights in torch-fidelity's .pth layout. Its loader requires the logits
    layer `fc` (1008 classes), which fid-helper's default_1.pt lacks and load_fid_inception drops;
    FID reads the 2048 pool features before it, so zeros there change nothing."""
    state = extractor.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    path = directory / "inception-fidelity-layout.pth"
    torch.save(state, path)
    return path


def fid_fidelity(real: Tensor, fake: Tensor, weights: Path, device: torch.device, batch_size: int) -> float:
    """torch-fidelity's FID: its own extractor (built from `weights` on each call), statistics in
    numpy and the trace term from numpy's general eigenvalues."""
    metrics = torch_fidelity.calculate_metrics(
        input1=Pixels(real),
        input2=Pixels(fake),
        fid=True,
        feature_extractor_weights_path=str(weights),
        cuda=device.type == "cuda",
        batch_size=batch_size,
        cache=False,
        save_cpu_ram=True,  # no DataLoader worker processes: the images are already in memory
        verbose=False,
    )
    return metrics["frechet_inception_distance"]


def timed(function: Callable[[], object], device: torch.device) -> tuple[object, float]:
    """The function's result and its wall time (after the device has finished its work)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


# ------------------------------------------------------------------------------ distance step
def statistics(metric: FrechetDistance, real: bool) -> tuple[Tensor, Tensor]:
    """Mean and covariance (float64) from the metric's feature sums."""
    prefix = "real" if real else "fake"
    total, outer = getattr(metric, f"{prefix}_features_sum"), getattr(metric, f"{prefix}_features_cov_sum")
    count = getattr(metric, f"{prefix}_features_num_samples")
    mean = total / count
    return mean, (outer - count * torch.outer(mean, mean)) / (count - 1)


def scipy_sqrtm_fid(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The trace term through scipy's matrix square root, as pytorch-fid and TTUR compute it."""
    root = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))


def time_distances(metric: FrechetDistance, device: torch.device, repeats: int) -> dict[str, dict[str, float]]:
    """{method: {"fid", "seconds" (the best)}} for the distance alone, on the benchmark's own
    statistics; torch methods on the device, numpy and scipy on the CPU."""
    mu1, sigma1 = statistics(metric, real=True)
    mu2, sigma2 = statistics(metric, real=False)
    arrays = [t.cpu().numpy() for t in (mu1, sigma1, mu2, sigma2)]
    methods = {
        "ours: frechet_distance (2 x eigh)": lambda: frechet_distance(mu1, sigma1, mu2, sigma2).item(),
        "torchmetrics: _compute_fid (eigvals)": lambda: _compute_fid(mu1, sigma1, mu2, sigma2).item(),
        "torch-fidelity 0.4: numpy eigvals": lambda: fid_statistics_to_metric(
            {"mu": arrays[0], "sigma": arrays[1]}, {"mu": arrays[2], "sigma": arrays[3]}, verbose=False
        )["frechet_inception_distance"],
        "pytorch-fid/TTUR: scipy sqrtm": lambda: scipy_sqrtm_fid(*arrays),
    }
    results = {}
    for name, method in methods.items():
        runs = [timed(method, device) for _ in range(repeats)]
        results[name] = {"fid": runs[0][0], "seconds": min(seconds for _, seconds in runs)}
    return results


# ----------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """Runs the benchmark, prints a table and returns the numbers (FIDs, seconds, whether the two
    FIDs agree within the tolerance)."""
    args = parse_args(argv)
    device = torch.device(args.device)
    weights = resolve_fid_weights(args.weights)
    real, fake = image_sets(args)
    cudnn = torch.backends.cudnn
    # Full float32 convolutions in both, as ImageQualityMetrics extracts features: with TF32
    # (PyTorch's default for cuDNN on Ampere and later GPUs) the two FIDs differ by ~1e-5.
    no_tf32 = dict(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False)
    with tempfile.TemporaryDirectory() as directory, cudnn.flags(**no_tf32):
        fidelity_weights = write_fidelity_weights(load_fid_inception(weights), Path(directory))
        # First calls pay one-off costs (oneDNN/cuDNN set-up, CUDA context, lazy imports).
        if args.warmup_images:
            few = real[: args.warmup_images], fake[: args.warmup_images]
            fid_ours(*few, weights, device, args.batch_size)
            fid_fidelity(*few, fidelity_weights, device, args.batch_size)
        (ours, metric), ours_seconds = timed(lambda: fid_ours(real, fake, weights, device, args.batch_size), device)
        theirs, theirs_seconds = timed(
            lambda: fid_fidelity(real, fake, fidelity_weights, device, args.batch_size), device
        )
    relative = abs(ours - theirs) / abs(theirs)
    results = {
        "ours": {"fid": ours, "seconds": ours_seconds},
        "torch_fidelity": {"fid": theirs, "seconds": theirs_seconds},
        "relative_difference": relative,
        "agree": relative <= args.tolerance,
        "distance": time_distances(metric, device, args.distance_repeats) if args.distance_repeats else {},
    }
    print_report(args, results)
    return results


def print_report(args: argparse.Namespace, results: dict) -> None:
    threads = f"{torch.get_num_threads()} threads" if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"FID of {args.num_images} vs {args.num_images} images ({args.images}) of {args.size} px, "
          f"{args.device} ({threads}), batch {args.batch_size}; seconds from the weights file to the FID")
    print(f"{'':<16}{'seconds':>10}{'FID':>16}")
    for label, key in (("ours", "ours"), ("torch-fidelity", "torch_fidelity")):
        print(f"{label:<16}{results[key]['seconds']:>10.2f}{results[key]['fid']:>16.6f}")
    verdict = "agree" if results["agree"] else "DISAGREE"
    print(f"relative difference {results['relative_difference']:.2e} (tolerance {args.tolerance:g}): {verdict}")
    if results["distance"]:
        print(f"\nDistance step alone, 2048 dimensions, best of {args.distance_repeats}:")
        for name, run in results["distance"].items():
            print(f"  {name:<38}{run['seconds']:>8.2f} s   FID {run['fid']:.6f}")


if __name__ == "__main__":
    sys.exit(0 if main()["agree"] else 1)
