"""RC and FC: whether translations carry the class they were translated into, measured by
classifiers (Shmelkov et al., "How good is my GAN?", ECCV 2018; reported beside mFID by DeepI2I
and other many-class translation papers).

- RC ("real classifier"): a classifier trained on the real training images classifies the
  translations; the accuracy is the fraction given the class they were translated into.
- FC ("fake classifier"): a classifier trained on the translations, labelled by their target
  class, classifies the real test images.

Every image set is a folder with one folder of images per class (subfolders included), the class
being the folder's name; the sets must name the same classes. The classifier is a timm model
fine-tuned from ImageNet weights the user supplies (never random weights unless asked for with
`weights="none"`); docs/class-accuracy.md gives the recipe and why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import timm
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from i2i_zoo.data.base import _apply
from i2i_zoo.data.io import IMAGE_EXTENSIONS, read_image, require_folder
from i2i_zoo.data.stream import _RandomDataset
from i2i_zoo.weights import hub_checkpoints, read_state_dict, resolve_weights

METRICS = ("rc", "fc")
# torchvision's ImageNet ResNet-50 (the file torchvision itself downloads), the classifier
# family these papers fine-tune; any timm model name can replace it.
DEFAULT_MODEL = "resnet50.tv_in1k"
WEIGHTS_ENV = "I2I_ZOO_CLASSIFIER_WEIGHTS"
NO_WEIGHTS = "none"  # the --weights value that trains from random initialisation
# Translations are object-centred crops: a crop of less than half the area (ImageNet's 8%) can
# cut away what makes the class.
CROP_SCALE = (0.5, 1.0)
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4


@dataclass(frozen=True)
class ClassFolders:
    """An image set with one folder per class: `paths[i]` belongs to `classes[labels[i]]`;
    `option` names the setting that gave `root`, for errors."""

    root: Path
    option: str
    classes: list[str]
    paths: list[Path]
    labels: list[int]


@dataclass(frozen=True)
class Settings:
    """The classifier and how it is trained; the defaults are the documented recipe."""

    model: str = DEFAULT_MODEL
    weights: str | None = None  # a file, None: $I2I_ZOO_CLASSIFIER_WEIGHTS or timm's cache, "none": random
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    image_size: int = 128
    seed: int = 0
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    num_workers: int = 4


@dataclass(frozen=True)
class Accuracy:
    """Top-1 accuracy of a classifier on a test set: over all images and the mean over classes."""

    accuracy: float
    mean_class_accuracy: float
    per_class: dict[str, float] = field(default_factory=dict)
    test_images: int = 0


def read_class_folders(root: str | os.PathLike, option: str) -> ClassFolders:
    """The images of `root/<class>/` (subfolders included) for every class folder of `root`,
    classes sorted by name; folders whose name starts with a dot are skipped. A root without
    class folders or a class folder without images raises ValueError naming `option`."""
    root = require_folder(root, f"a folder with one folder of images per class ({option})")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{option} {root} holds no class folders: expected one folder of images per class, named after the class")
    paths, labels = [], []
    for label, folder in enumerate(folders):
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not found:
            raise ValueError(
                f"{option}: class folder {folder} holds no images (accepted extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        paths += found
        labels += [label] * len(found)
    return ClassFolders(root, option, [folder.name for folder in folders], paths, labels)


def require_same_classes(sets: Sequence[ClassFolders]) -> list[str]:
    """The classes all `sets` name; a ValueError lists, for each set, the classes others have and
    it lacks, and those it alone has."""
    names = [set(images.classes) for images in sets]
    every = set().union(*names)
    if all(found == every for found in names):
        return sorted(every)
    problems = []
    for images, found in zip(sets, names):
        others = set().union(*(other for other in names if other is not found))
        if others - found:
            problems.append(f"{images.option} {images.root} lacks {sorted(others - found)}")
        if found - others:
            problems.append(f"{images.option} {images.root} alone has {sorted(found - others)}")
    raise ValueError(
        "the image sets must have the same class folders (classes are matched by folder name): " + "; ".join(problems)
    )


def check_images(sets: Sequence[ClassFolders], num_workers: int = 0) -> None:
    """Decode every image once before training, so an unreadable file (most often a translation,
    read only after a classifier has trained) fails in seconds; one ValueError names them all."""
    paths = [path for images in sets for path in images.paths]
    loader = DataLoader(_Readability(paths), batch_size=64, num_workers=num_workers, collate_fn=list)
    failures = [error for batch in loader for error in batch if error]
    if failures:
        shown = "; ".join(failures[:5]) + (" ..." if len(failures) > 5 else "")
        raise ValueError(f"{len(failures)} of the {len(paths)} images cannot be read: {shown}")


def resolve_classifier_weights(model: str, weights: str | os.PathLike | None) -> Path | None:
    """The ImageNet weights file of timm's `model`: `weights` (the --weights option), else
    $I2I_ZOO_CLASSIFIER_WEIGHTS, else where timm keeps it once downloaded (torch hub's
    checkpoints folder under the file name of its URL, or the Hugging Face cache); None for
    `weights="none"` (random initialisation, asked for explicitly). A FileNotFoundError says
    which file to put where."""
    if weights is not None and str(weights) == NO_WEIGHTS:  # None looks for the file; only the word means random
        return None
    config = pretrained_config(model)
    candidates, urls = [], {}
    if config.url:
        cached = hub_checkpoints() / config.url.rsplit("/", 1)[-1]
        candidates.append(cached)
        urls[cached] = config.url
    hint = ""
    if config.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        # A Hugging Face cache entry is a candidate only once it exists (its path holds a hash).
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(config.hf_hub_id, filename)
            if isinstance(found, str):
                candidates.append(Path(found))
        hint = f"download model.safetensors or pytorch_model.bin from https://huggingface.co/{config.hf_hub_id}"
    return resolve_weights(
        weights, option="--weights", env=WEIGHTS_ENV, candidates=candidates, urls=urls,
        what=f"ImageNet weights of timm's {model} (or --weights none to train the classifier from random weights)",
        hint=hint,
    )


def pretrained_config(model: str):
    """timm's pretrained configuration of `model` (its weights' URL, Hugging Face id, mean, std);
    a ValueError names the option when timm has no such model."""
    try:
        config = timm.models.get_pretrained_cfg(model) if timm.is_model(model) else None
    except RuntimeError as error:  # an unknown tag
        raise ValueError(f"--model {model}: {error}") from None
    if config is None:
        raise ValueError(f"--model {model} is not a timm model with pretrained weights; e.g. {DEFAULT_MODEL} (see timm.list_models(pretrained=True))")
    return config


def build_classifier(model: str, num_classes: int, weights: Path | None) -> nn.Module:
    """timm's `model` with `weights` (None: random) and a new `num_classes` head.

    The file must hold the whole pretrained network, head included: timm loads it strictly (with
    its own conversion of the checkpoint, where the model has one) at the pretrained class count,
    and only then is the head replaced, so missing or misnamed tensors fail here."""
    pretrained_config(model)
    if weights is None:
        return timm.create_model(model, pretrained=False, num_classes=num_classes)
    state = read_weights(weights, f"ImageNet weights of timm's {model}")
    try:
        network = timm.create_model(model, pretrained=True, pretrained_cfg_overlay={"state_dict": state})
    except (RuntimeError, KeyError) as error:  # load_state_dict's report spans lines
        reason = " ".join(line.strip() for line in str(error).splitlines())
        raise ValueError(f"{weights} does not hold the weights of timm's {model} (--weights): {reason[:500]}") from None
    network.reset_classifier(num_classes)
    return network


def read_weights(path: Path, what: str) -> dict[str, Tensor]:
    """A state dict from a PyTorch file (read with weights_only) or a .safetensors file (timm's
    Hugging Face downloads), errors naming the file."""
    if path.suffix != ".safetensors":
        return read_state_dict(path, what)
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(f"{path} is not a readable safetensors file (expected {what}): {error}") from None


def train_classifier(images: ClassFolders, settings: Settings, weights: Path | None, name: str = "classifier") -> nn.Module:
    """Fine-tune the classifier on `images`: SGD with momentum and weight decay, cosine decay of
    `settings.lr` to zero over all steps, random-resized crops and horizontal flips. Seeded by
    `settings.seed` (the caller's random state is left as it was). `name` prefixes the loss
    printed after each epoch."""
    device = torch.device(settings.device)
    with _seeded(settings.seed, device):
        network = build_classifier(settings.model, len(images.classes), weights).to(device)
        augment = A.Compose([
            A.RandomResizedCrop((settings.image_size,) * 2, scale=CROP_SCALE, interpolation=cv2.INTER_CUBIC, area_for_downscale="image"),
            A.HorizontalFlip(),
        ])
        dataset = _ClassImages(images, augment, network.pretrained_cfg)
        batch_size = min(settings.batch_size, len(dataset))
        # Keys drawn in this process: the batches are the same with any number of workers.
        keys = _EpochKeys(len(dataset), torch.Generator().manual_seed(settings.seed))
        loader = DataLoader(
            dataset, batch_size, sampler=keys, drop_last=True,  # a batch of one breaks batch norm
            num_workers=settings.num_workers, persistent_workers=settings.num_workers > 0,
        )
        optimizer = torch.optim.SGD(network.parameters(), settings.lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs * len(loader))
        network.train()
        for epoch in range(settings.epochs):
            total = 0.0
            for pixels, labels in loader:
                loss = nn.functional.cross_entropy(network(pixels.to(device)), labels.to(device))
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{name}: the loss is {loss.item()} in epoch {epoch + 1}; lower --lr (now {settings.lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.item()
            print(f"{name}: epoch {epoch + 1}/{settings.epochs}, loss {total / len(loader):.4f}", file=sys.stderr)
    return network.eval()


@torch.no_grad()
def evaluate(network: nn.Module, images: ClassFolders, settings: Settings) -> Accuracy:
    """Top-1 accuracy of `network` on `images`, each resized (shorter side) and centre-cropped to
    `settings.image_size`."""
    resize = A.Compose([
        A.SmallestMaxSize(settings.image_size, interpolation=cv2.INTER_CUBIC, area_for_downscale="image"),
        A.CenterCrop(settings.image_size, settings.image_size),
    ])
    loader = DataLoader(_ClassImages(images, resize, network.pretrained_cfg), settings.batch_size, num_workers=settings.num_workers)
    device = next(network.parameters()).device
    network.eval()
    predicted = torch.cat([network(pixels.to(device)).argmax(1).cpu() for pixels, _ in loader])
    labels = torch.tensor(images.labels)
    correct = (predicted == labels).double()
    per_class = {name: correct[labels == label].mean().item() for label, name in enumerate(images.classes)}
    return Accuracy(correct.mean().item(), float(np.mean(list(per_class.values()))), per_class, len(labels))


def real_classifier_accuracy(real_train: ClassFolders, fake: ClassFolders, settings: Settings, weights: Path | None) -> Accuracy:
    """RC: trained on the real training images, tested on the translations."""
    return evaluate(train_classifier(real_train, settings, weights, "rc"), fake, settings)


def fake_classifier_accuracy(fake: ClassFolders, real_test: ClassFolders, settings: Settings, weights: Path | None) -> Accuracy:
    """FC: trained on the translations, tested on the real test images."""
    return evaluate(train_classifier(fake, settings, weights, "fc"), real_test, settings)


def class_accuracy(
    fake: str | os.PathLike,
    real_train: str | os.PathLike | None = None,
    real_test: str | os.PathLike | None = None,
    metrics: Sequence[str] = METRICS,
    settings: Settings = Settings(),
) -> dict[str, Accuracy]:
    """RC and/or FC (`metrics`) of the translations in `fake`; RC needs `real_train`, FC
    `real_test`. Everything that can fail without training (folders, class names, weights,
    unreadable images) is checked before the first classifier trains."""
    unknown = [metric for metric in metrics if metric not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"--metrics {' '.join(metrics)}: choose one or more of {', '.join(METRICS)}")
    needed = {"rc": ("--real_train", real_train), "fc": ("--real_test", real_test)}
    for metric in metrics:
        option, folder = needed[metric]
        if folder is None:
            raise ValueError(f"{metric.upper()} needs {option}: the real {option.removeprefix('--real_')} images, one folder per class")
    if settings.epochs < 1 or settings.batch_size < 2 or settings.image_size < 1 or not settings.lr > 0:
        raise ValueError(
            f"--epochs {settings.epochs}, --batch_size {settings.batch_size}, --image_size {settings.image_size}, "
            f"--lr {settings.lr}: expected epochs >= 1, batch_size >= 2 (batch norm), image_size >= 1 and lr > 0"
        )
    sets = {"--fake": read_class_folders(fake, "--fake")}
    for metric in metrics:
        option, folder = needed[metric]
        sets[option] = read_class_folders(folder, option)
    classes = require_same_classes(list(sets.values()))
    if len(classes) < 2:
        raise ValueError(f"--fake {fake} has the one class folder {classes}: RC and FC need two classes or more")
    weights = resolve_classifier_weights(settings.model, settings.weights)
    check_images(list(sets.values()), settings.num_workers)
    results = {}
    if "rc" in metrics:
        results["rc"] = real_classifier_accuracy(sets["--real_train"], sets["--fake"], settings, weights)
    if "fc" in metrics:
        results["fc"] = fake_classifier_accuracy(sets["--fake"], sets["--real_test"], settings, weights)
    return results


def main(argv: list[str]) -> dict[str, Accuracy]:
    """`i2i-zoo class-accuracy --fake DIR --real_train DIR --real_test DIR [...]`"""
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="i2i-zoo class-accuracy",
        description="RC and FC (Shmelkov et al. 2018): the accuracy of a classifier trained on real images when it "
        "classifies the translations (RC), and of one trained on the translations when it classifies real test "
        "images (FC). Every folder holds one folder of images per class, named after the class; the translations "
        "into class c go in FAKE/c. See docs/class-accuracy.md.",
    )
    parser.add_argument("--fake", required=True, type=Path, metavar="DIR", help="the translations, one folder per target class")
    parser.add_argument("--real_train", type=Path, metavar="DIR", help="real training images, one folder per class (needed by RC)")
    parser.add_argument("--real_test", type=Path, metavar="DIR", help="real test images, one folder per class (needed by FC)")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS), help="which to compute (default: rc fc)")
    parser.add_argument(
        "--model", default=defaults.model, metavar="NAME",
        help=f"timm model name of the classifier, its head replaced for the classes (default: {DEFAULT_MODEL}, "
        "torchvision's ImageNet ResNet-50)",
    )
    parser.add_argument(
        "--weights", metavar="PATH|none",
        help=f"ImageNet weights of --model (.pth/.bin state dict or .safetensors); default: ${WEIGHTS_ENV}, else timm's "
        "file in torch hub's checkpoints folder or the Hugging Face cache (the error names it); 'none' trains from "
        "random weights",
    )
    parser.add_argument("--epochs", type=int, metavar="N", default=defaults.epochs, help=f"training epochs of each classifier (default: {defaults.epochs})")
    parser.add_argument("--batch_size", type=int, metavar="N", default=defaults.batch_size, help=f"images per step (default: {defaults.batch_size})")
    parser.add_argument(
        "--lr", type=float, default=defaults.lr,
        help=f"SGD learning rate (momentum {MOMENTUM}, weight decay {WEIGHT_DECAY}), cosine decay to 0 (default: {defaults.lr})",
    )
    parser.add_argument(
        "--image_size", type=int, default=defaults.image_size,
        help=f"side of the square classifier input: random-resized crops ({CROP_SCALE[0]:g}-{CROP_SCALE[1]:g} of the "
        f"area) and flips in training, shorter side resized and centre crop in testing (default: {defaults.image_size})",
    )
    parser.add_argument("--seed", type=int, metavar="N", default=defaults.seed, help=f"seed of the initialisation and data order (default: {defaults.seed})")
    parser.add_argument("--device", metavar="DEVICE", default=defaults.device, help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu)")
    parser.add_argument("--num_workers", type=int, metavar="N", default=defaults.num_workers, help=f"DataLoader worker processes (default: {defaults.num_workers})")
    parser.add_argument("--output", type=Path, metavar="JSON", help="JSON file for the results and the settings (written atomically; never an input)")
    args = parser.parse_args(argv)
    inputs = [folder for folder in (args.fake, args.real_train, args.real_test) if folder is not None]
    if args.output is not None:
        _check_output(args.output, inputs, args.weights)
    settings = Settings(
        args.model, args.weights, args.epochs, args.batch_size, args.lr, args.image_size, args.seed, args.device, args.num_workers
    )
    results = class_accuracy(args.fake, args.real_train, args.real_test, args.metrics, settings)
    for metric, accuracy in results.items():
        print(
            f"{metric.upper()} {accuracy.accuracy:.4f} (mean per class {accuracy.mean_class_accuracy:.4f}, "
            f"{accuracy.test_images} test images, classifier {settings.model})"
        )
    if args.output is not None:
        report = {
            "metrics": {metric: asdict(accuracy) for metric, accuracy in results.items()},
            "folders": {"fake": str(args.fake), "real_train": _text(args.real_train), "real_test": _text(args.real_test)},
            "classifier": {**asdict(settings), "weights": _text(resolve_classifier_weights(settings.model, settings.weights))},
        }
        _write_atomically(args.output, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")
    return results


class _ClassImages(_RandomDataset):
    """Items (image, label): the image read as RGB, transformed and normalised with the mean and
    standard deviation of the classifier's pretrained configuration."""

    def __init__(self, images: ClassFolders, transform: A.Compose, config: dict) -> None:
        self.images, self.transform = images, transform
        self.mean = torch.tensor(config["mean"]).view(3, 1, 1)
        self.std = torch.tensor(config["std"]).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.images.paths)

    def _item(self, index: int, generator: torch.Generator) -> tuple[Tensor, int]:
        path = self.images.paths[index]
        image = _apply(self.transform, path, generator, image=read_image(path, 3))["image"]
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return (pixels - self.mean) / self.std, self.images.labels[index]


class _Readability(Dataset):
    """For each path, "" when the image can be read, else the reason."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> str:
        try:
            read_image(self.paths[index], 3)
        except ValueError as error:  # ImageReadError, and colour-channel errors
            return str(error)
        return ""


class _EpochKeys(Sampler):
    """`(index, seed)` keys of a `_RandomDataset`: a new permutation, and a seed per item, drawn
    from `generator` each epoch."""

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size, self.generator = size, generator

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        seeds = torch.randint(2**31 - 1, (self.size,), generator=self.generator).tolist()
        return iter(zip(order, seeds))


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (restoring the caller's random state afterwards) and select cuDNN's
    deterministic kernels, so a run repeats on the same machine."""
    deterministic, benchmark = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, benchmark


def _check_output(output: Path, inputs: list[Path], weights: str | None) -> None:
    """The results file may not lie inside an input folder nor be the weights file."""
    target = output.resolve()
    for folder in inputs:
        if target.is_relative_to(folder.resolve()):
            raise ValueError(f"--output {output} lies inside the input folder {folder}: write the results elsewhere")
    if weights is not None and weights != NO_WEIGHTS and target == Path(weights).expanduser().resolve():
        raise ValueError(f"--output {output} is the --weights file: write the results elsewhere")


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file renamed into place, so a failure leaves any earlier file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
