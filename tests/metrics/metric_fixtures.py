"""A tiny feature extractor, a method whose translations are its targets plus known noise, smooth
test images, and random FID Inception weights: shared by the metric tests and their DDP script."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.data import write_image
from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.metrics.inception import InceptionV3FID


class TinyFeatures(nn.Module):
    """Features = 4x4 average-pooled colours and horizontal gradient magnitudes (96 numbers);
    counts its calls and records the input dtype and autocast state it saw."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.seen: list[tuple[torch.dtype, bool]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.seen.append((images.dtype, torch.is_autocast_enabled(images.device.type)))
        gradients = (images[..., 1:] - images[..., :-1]).abs()
        return torch.cat([F.adaptive_avg_pool2d(images, 4).flatten(1), F.adaptive_avg_pool2d(gradients, 4).flatten(1)], 1)


def smooth_images(n: int = 64, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Random smooth colour images in [-1, 1] (upsampled 8x8 noise)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 8, 8, generator=generator) * 2 - 1
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def write_pairs(folder: Path, images: torch.Tensor) -> None:
    """Each image as a side-by-side pair (the image twice) `folder/<number>.png`, 8-bit."""
    for i, image in enumerate(images):
        write_image(folder / f"{i:03d}.png", torch.cat([image, image], dim=2))


def loader(images: torch.Tensor, batch_size: int = 16) -> DataLoader:
    samples = [{"B": image, "index": i} for i, image in enumerate(images)]
    return DataLoader(samples, batch_size=batch_size)


class NoisyMethod(I2IMethod):
    """Translations = targets + `sigma` x fixed Gaussian noise (per image), in `groups` groups whose
    noise is scaled by 1, 2, ...; during fit sigma shrinks as 1 / (epoch + 1). An image's noise is
    seeded by its number: the batch's `index`, or the stem of its `B_path` file (`007.png`), which
    `evaluated` records."""

    def __init__(self, sigma: float = 0.1, groups: tuple[str, ...] = ("AtoB",)):
        super().__init__()
        self.sigma = sigma
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(1))
        self.evaluated: list[int] = []

    def optimizer_specs(self):
        return {"G": OptimizerSpec([self.weight], 1e-3)}

    def training_step(self, batch, batch_idx):
        self.optimize("G", (self.weight - 1).pow(2).sum())

    def evaluation_images(self, batch):
        target = batch["B"]
        numbers = [int(i) for i in batch["index"]] if "index" in batch else [int(Path(p).stem) for p in batch["B_path"]]
        self.evaluated += numbers
        noise = torch.stack([torch.randn(target.shape[1:], generator=torch.Generator().manual_seed(i)) for i in numbers])
        noise = noise.to(target.device)
        sigma = self.sigma / (self.current_epoch + 1)  # current_epoch is 0 outside fit
        return {
            name: EvalImages(fake=(target + sigma * (k + 1) * noise).clamp(-1, 1), real=target, target=target)
            for k, name in enumerate(self.groups)
        }


def validate(callback, sigma: float = 0.1, images: torch.Tensor | None = None, batch_size: int = 16, **trainer_options):
    """Logged metrics of `Trainer.validate` with `callback` on NoisyMethod(sigma)."""
    trainer = Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[callback], **trainer_options,
    )
    images = smooth_images() if images is None else images
    (metrics,) = trainer.validate(NoisyMethod(sigma), dataloaders=loader(images, batch_size), verbose=False)
    return metrics


def save_random_inception(path) -> None:
    """A real-architecture Inception-v3 with random weights (and random batch-norm statistics),
    saved at `path` in torch-fidelity's layout with the logits layer its own loader requires."""
    torch.manual_seed(0)
    state = InceptionV3FID().state_dict()
    for key, value in state.items():
        if key.endswith("conv.weight"):  # variance-preserving, so 94 layers keep images apart
            state[key] = nn.init.kaiming_normal_(torch.empty_like(value), nonlinearity="relu")
        elif key.endswith("running_mean") or key.endswith("bn.bias"):
            state[key] = torch.randn_like(value) * 0.1
        elif key.endswith("running_var"):
            state[key] = torch.rand_like(value) + 0.5
    state["fc.weight"], state["fc.bias"] = torch.randn(1008, 2048) * 0.01, torch.zeros(1008)
    torch.save(state, path)
