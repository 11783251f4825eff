"""How strongly a cycle's reconstruction reacts to small disturbances of its intermediate image:
CycleGAN against AsymGAN (Li et al., "Asymmetric GAN for Unpaired Image-to-Image Translation",
IEEE TIP 2019, Sec. IV-D). CycleGAN's pair can hide what X -> Y drops inside the intermediate
image, so F(T(G(x))) moves far from F(G(x)) under a small T; AsymGAN carries it in z = E(x).

    python benchmarks/sensitivity.py --cyclegan cyclegan.ckpt --asymgan asymgan.ckpt \
        --data datasets/cityscapes --limit 100 --device cuda --json sensitivity.json

For each rich-domain (X) image x of `--data`'s `<split>A` or `<split>B` folder (AsymGAN's
`rich_domain`), and each disturbance T of the intermediate image G(x):
- `crop`: the centre 125/128 of the side (rounded half up), resized back to the side (the paper's
  125 of 128 pixels, scaled to the image size);
- `resize`: resized to 130/128 of the side (rounded half up) and back;
- `noise`: plus Gaussian noise of std `--noise-std`, not clipped (image i gets the i-th draw of
  randn(C, H, W) from a CPU generator seeded with `--seed`, whatever the batch size or device);
it reports mean |F(T(G(x))) - F(G(x))| (AsymGAN: with E(x) as F's second input), in [-1, 1]
units, averaged over images, and the undisturbed cycle error mean |F(G(x)) - x| for context.
Resizes are bilinear with antialiasing (torch `interpolate`, half-pixel centres): an antialiased
downscale does not alias, and bilinear does not overshoot as bicubic does.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.functional import interpolate

from i2i_zoo.data.demo import resolve_root
from i2i_zoo.data.io import list_images, read_image, require_folder, to_tensor
from i2i_zoo.data.transforms import build_transform
from i2i_zoo.export import load_method
from i2i_zoo.methods import I2IMethod
from i2i_zoo.methods.asymgan import AsymGAN
from i2i_zoo.methods.cyclegan import CycleGAN

# 0.02 in [-1, 1] units is 2.55 levels of an 8-bit image, 1% of the range: invisible, yet several
# times what saving the intermediate image as 8 bits changes (half a level at most), so a
# reconstruction that reacts strongly to it relies on a signal no one sees.
DEFAULT_NOISE_STD = 0.02
DISTURBANCES = ("crop", "resize", "noise")
CYCLE = "cycle"  # the undisturbed cycle error's row
# The paper's disturbances at 128 px: a 125 px crop and a resize to 130 px.
PAPER_SIDE, PAPER_CROP, PAPER_RESIZE = 128, 125, 130


@dataclass(frozen=True)
class CyclePair:
    """One model's cycle X -> Y -> X as callables on [-1, 1] image batches.

    Attributes:
        to_poor: X -> Y (the intermediate image), e.g. CycleGAN's G or AsymGAN's G.
        to_rich: Y -> X: `to_rich(y)`, or `to_rich(y, encode(x))` where `encode` is set.
        encode: X -> what to_rich needs besides y (AsymGAN's E); None for CycleGAN.
    """

    to_poor: Callable[[Tensor], Tensor]
    to_rich: Callable[..., Tensor]
    encode: Callable[[Tensor], Tensor] | None = None


def disturbance_sides(side: int) -> tuple[int, int]:
    """The crop and the resize side of `side` px images: the paper's 125 and 130 of 128, rounded
    half up; an error where either would equal `side` (images under 32 px)."""
    crop, resize = (int(side * size / PAPER_SIDE + 0.5) for size in (PAPER_CROP, PAPER_RESIZE))
    if crop == side or resize == side:
        raise ValueError(f"images of {side} px are too small for the crop and resize disturbances (--image-size): "
                         f"they need at least 32 px, where 125/128 and 130/128 of the side round to other sides")
    return crop, resize


def centre_crop_and_back(images: Tensor, crop: int) -> Tensor:
    side_h, side_w = images.shape[-2:]
    top, left = (side_h - crop) // 2, (side_w - crop) // 2
    return resize(images[..., top:top + crop, left:left + crop], (side_h, side_w))


def resize_and_back(images: Tensor, side: int) -> Tensor:
    return resize(resize(images, (side, side)), tuple(images.shape[-2:]))


def resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    return interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def image_noise(generator: torch.Generator, like: Tensor, std: float) -> Tensor:
    """Noise for a batch like `like`, drawn image by image on the CPU, so image i gets the same
    noise whatever the batch size or device."""
    noise = torch.stack([torch.randn(like.shape[1:], generator=generator) for _ in range(len(like))])
    return (std * noise).to(like.device)


def sensitivity(
    models: dict[str, CyclePair], batches: Iterable[Tensor], noise_std: float = DEFAULT_NOISE_STD, seed: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """Reconstruction errors of each model's cycle under disturbances of its intermediate image.

    Args:
        models: name -> the model's cycle; every model sees the same images and the same noise.
        batches: rich-domain images, (N, C, H, W) in [-1, 1], square, at least 32 px.
        noise_std: std of the `noise` disturbance, in [-1, 1] units.
        seed: seed of the noise (see `image_noise`).

    Returns:
        name -> {"error": {"cycle": mean |F(G(x)) - x|, T: mean |F(T(G(x))) - F(G(x))| for each T
        in DISTURBANCES}, "size": {T: mean |T(G(x)) - G(x)|, how large T was}}; per-image means
        averaged over images (F takes E(x) as well where the model encodes).
    """
    if noise_std < 0:
        raise ValueError(f"the noise std (--noise-std) must not be negative, got {noise_std}")
    generator = torch.Generator().manual_seed(seed)
    sums = {name: {"error": dict.fromkeys((CYCLE, *DISTURBANCES), 0.0), "size": dict.fromkeys(DISTURBANCES, 0.0)}
            for name in models}  # fmt: skip
    count = 0
    with torch.no_grad():
        for x in batches:
            if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
                raise ValueError(f"expected batches of square images (N, C, H, W), got shape {tuple(x.shape)}")
            crop, resized = disturbance_sides(x.shape[-1])
            noise = None
            for name, model in models.items():
                code = model.encode(x) if model.encode is not None else None
                reconstruct = model.to_rich if code is None else (lambda y: model.to_rich(y, code))
                intermediate = model.to_poor(x)
                if noise is None:
                    noise = image_noise(generator, intermediate, noise_std)
                elif intermediate.shape != noise.shape:  # one noise for all, so the models compare
                    raise ValueError(f"the models' intermediate images differ in shape: {tuple(noise.shape)} "
                                     f"and {tuple(intermediate.shape)} ({name})")
                reconstruction = reconstruct(intermediate)
                disturbed = {
                    "crop": centre_crop_and_back(intermediate, crop),
                    "resize": resize_and_back(intermediate, resized),
                    "noise": intermediate + noise,
                }
                sums[name]["error"][CYCLE] += image_means(reconstruction - x)
                for kind, image in disturbed.items():
                    sums[name]["error"][kind] += image_means(reconstruct(image) - reconstruction)
                    sums[name]["size"][kind] += image_means(image - intermediate)
            count += len(x)
    if not count:
        raise ValueError("no images to measure")
    return {name: {part: {key: total / count for key, total in values.items()} for part, values in parts.items()}
            for name, parts in sums.items()}  # fmt: skip


def image_means(difference: Tensor) -> float:
    """The sum over the batch of each image's mean absolute value."""
    return difference.abs().flatten(1).mean(1).sum().item()


# ------------------------------------------------------------------------------ models and data
def cyclegan_pair(model: CycleGAN, rich_domain: str) -> CyclePair:
    """CycleGAN's G: A -> B and F: B -> A, arranged so X is `rich_domain`."""
    G, F = model.inference_net("G"), model.inference_net("F")
    return CyclePair(G, F) if rich_domain == "A" else CyclePair(F, G)


def asymgan_pair(model: AsymGAN) -> CyclePair:
    return CyclePair(model.inference_net("G"), model.inference_net("F"), model.inference_net("E"))


def rich_image_paths(root: Path, folder: str, limit: int | None) -> list[Path]:
    """The first `limit` images of `root/folder`, sorted."""
    require_folder(root / folder, f"the unpaired layout (trainA/ trainB/ testA/ testB/) under --data {root}")
    return list_images(root / folder, f"images of the rich domain in {folder}/")[:limit]


def read_batches(paths: list[Path], side: int, channels: int, batch_size: int) -> Iterator[Tensor]:
    """The images as the test split reads them: resized to `side` squared (bicubic, clipped to
    [0, 1]), in [-1, 1], in batches."""
    transform = build_transform(side, side, flip=False, train=False, preprocess="resize")
    for start in range(0, len(paths), batch_size):
        images = []
        for path in paths[start:start + batch_size]:
            image = read_image(path, channels)
            # Bicubic resizing overshoots the [0, 1] range near edges.
            images.append(to_tensor(transform(image=image)["image"].clip(0.0, 1.0)))
        yield torch.stack(images)


def load(path: Path, cls: type[I2IMethod], option: str) -> I2IMethod:
    """The method in checkpoint `path` (given by `option`), float32, in eval mode."""
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} ({option}) does not exist; expected a Lightning checkpoint of a {cls.__name__}"
        )
    # The class is given: AsymGAN is not registered, and a checkpoint written from Python names none.
    return load_method(path, cls).float().eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cyclegan", required=True, type=Path, help="Lightning checkpoint of a CycleGAN")
    parser.add_argument("--asymgan", required=True, type=Path, help="Lightning checkpoint of an AsymGAN")
    parser.add_argument("--data", required=True,
                        help="unpaired dataset folder (trainA/ trainB/ testA/ testB/) or demo:<name>")
    parser.add_argument("--split", default="test",
                        help="reads <split>A or <split>B, whichever is AsymGAN's rich domain (default test)")
    parser.add_argument("--rich-domain", choices=("A", "B"),
                        help="CycleGAN's domain that is X (A: G is X -> Y; B: F is); default: AsymGAN's rich_domain")
    parser.add_argument("--image-size", type=int, help="side images are resized to; default: AsymGAN's image_size")
    parser.add_argument("--limit", type=int, help="first N images of the folder (default all)")
    parser.add_argument("--noise-std", type=float, default=DEFAULT_NOISE_STD,
                        help=f"std of the noise disturbance in [-1, 1] units (default {DEFAULT_NOISE_STD}: "
                        "2.55 levels of an 8-bit image)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Runs the benchmark, prints the table, writes the JSON if asked and returns what it holds."""
    args = parse_args(argv)
    device = torch.device(args.device)
    cyclegan = load(args.cyclegan, CycleGAN, "--cyclegan").to(device)
    asymgan = load(args.asymgan, AsymGAN, "--asymgan").to(device)
    rich_domain = args.rich_domain or asymgan.rich_domain
    side = args.image_size or asymgan.hparams.image_size
    multiple = max(cyclegan.size_multiple, asymgan.F.size_multiple)
    if side % multiple:
        raise ValueError(f"--image-size {side} should be a multiple of {multiple}, which both models' generators need")
    channels = asymgan.hparams[f"channels_{asymgan.rich_domain}"]
    cyclegan_channels = cyclegan.hparams[f"channels_{rich_domain}"]
    if cyclegan_channels != channels:
        raise ValueError(f"the CycleGAN's domain {rich_domain} (--rich-domain) has {cyclegan_channels} channels, "
                         f"AsymGAN's rich domain {channels}")  # fmt: skip
    root = resolve_root(args.data, "unpaired")
    folder = f"{args.split}{asymgan.rich_domain}"
    paths = rich_image_paths(root, folder, args.limit)
    batches = (x.to(device) for x in read_batches(paths, side, channels, args.batch_size))
    models = {"CycleGAN": cyclegan_pair(cyclegan, rich_domain), "AsymGAN": asymgan_pair(asymgan)}
    results = sensitivity(models, batches, args.noise_std, args.seed)
    report = {
        "images": len(paths), "folder": str(root / folder), "image_size": side, "noise_std": args.noise_std,
        "seed": args.seed, "cyclegan_rich_domain": rich_domain, "asymgan_z": "map" if asymgan.E.z_map else "vector",
        "results": results, "ratio": ratios(results),
    }  # fmt: skip
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


def ratios(results: dict) -> dict[str, float | None]:
    """CycleGAN's error over AsymGAN's for each row; None where AsymGAN's is 0."""
    cyclegan, asymgan = results["CycleGAN"]["error"], results["AsymGAN"]["error"]
    return {row: cyclegan[row] / asymgan[row] if asymgan[row] else None for row in cyclegan}


def print_table(report: dict) -> None:
    print(f"{report['images']} images of {report['folder']} at {report['image_size']} px; "
          f"mean absolute differences in [-1, 1] units (noise std {report['noise_std']:g})")  # fmt: skip
    print(f"{'':<8}{'CycleGAN':>12}{'AsymGAN':>12}{'ratio':>10}")
    for row, ratio in report["ratio"].items():
        cells = [report["results"][name]["error"][row] for name in ("CycleGAN", "AsymGAN")]
        print(f"{row:<8}{cells[0]:>12.5f}{cells[1]:>12.5f}{'-' if ratio is None else f'{ratio:.2f}':>10}")
    print("cycle: |F(G(x)) - x|; crop, resize, noise: |F(T(G(x))) - F(G(x))| (AsymGAN's F also takes E(x))")


if __name__ == "__main__":
    main()
