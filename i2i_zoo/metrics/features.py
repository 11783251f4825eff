"""Feature extraction for FID/KID: 8-bit quantisation, a cache of real-image features keyed by the
images' content, so an epoch's distribution metrics cost only the translated images, and the
store of every group's features (or their sums)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics.image import KernelInceptionDistance
from torchmetrics.utilities.distributed import gather_all_tensors

from i2i_zoo.metrics.fid import FeatureSums

CACHE_ENV = "I2I_ZOO_CACHE"


def default_cache_dir() -> Path:
    """`$I2I_ZOO_CACHE`, else `~/.cache/i2i_zoo`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "i2i_zoo")


def quantize(images: Tensor) -> Tensor:
    """[-1, 1] images as the 8-bit RGB pixels a PNG of them holds (rounded; gray repeated to RGB),
    so metrics see what a user who saves the translations would measure."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


def extract_features(extractor: nn.Module, pixels: Tensor) -> Tensor:
    """N x D float32 features of N x 3 x H x W 8-bit images, given to `extractor` as floats in [0, 1]."""
    # Full float32 convolutions: TF32 (PyTorch's default for cuDNN on Ampere and later) moves
    # Inception features by ~5e-4 relative (measured on an H200) for a 2.3x speed-up.
    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False):
        return extractor(pixels.float() / 255.0).float().flatten(1)


def content_digest(pixels: Tensor) -> str:
    """A digest of 8-bit images (their shape and bytes)."""
    digest = hashlib.sha1(str(tuple(pixels.shape)).encode())
    digest.update(pixels.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def module_fingerprint(module: nn.Module) -> str:
    """A digest of a feature extractor's class and weights: cached features of another extractor
    (or other weights) are never reused."""
    digest = hashlib.sha1(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class PrecomputedFeatures(nn.Module):
    """The feature extractor handed to torchmetrics' FID and KID: features are extracted once per
    image by the callback and passed through, so both metrics share them."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def kid_of_features(real: Tensor, fake: Tensor, subsets: int, subset_size: int) -> tuple[Tensor, Tensor]:
    """KID's mean and standard deviation over `subsets` random subsets of `subset_size` features of
    each set (torchmetrics' estimate, not synced: the features are already all of them). The
    subsets are drawn with seed 0, so they are the same on every call, and the caller's RNG is
    left untouched."""
    kid = KernelInceptionDistance(
        PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=subset_size, sync_on_compute=False
    ).to(real.device)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return kid.compute()


class FeatureCache:
    """Features of real images by content digest, in memory for the run and, with a `directory`,
    on disk across runs (one file per process, all read at start).

    Args:
        directory: a folder for this extractor's features (None: memory only).
        rank: the process's rank, naming its file.
    """

    def __init__(self, directory: Path | None = None, rank: int = 0):
        self.path = directory / f"features_rank{rank}.pt" if directory else None
        self.entries: dict[str, Tensor] = {}
        self._unsaved = False
        if directory and directory.is_dir():
            for file in sorted(directory.glob("features_rank*.pt")):
                self.entries.update(torch.load(file, map_location="cpu", weights_only=True))

    def get(self, digest: str, device: torch.device) -> Tensor | None:
        features = self.entries.get(digest)
        return None if features is None else features.to(device)

    def put(self, digest: str, features: Tensor) -> None:
        self.entries[digest] = features.detach().cpu()
        self._unsaved = True

    def save(self) -> None:
        """Write the entries (atomically) if new ones were added."""
        if not self.path or not self._unsaved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".tmp{os.getpid()}")
        torch.save(self.entries, partial)
        os.replace(partial, self.path)
        self._unsaved = False


def group_key(name: str) -> int:
    """A group's name as a 63-bit integer, the same in every process (Python's `hash` is not)."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big") >> 1


class GroupedFeatures:
    """The FID/KID features of every evaluation group's real and translated images on this process,
    kept per group side (a group's real or its translated images).

    A side's rows are kept (D float32 numbers each, 8 KB at D = 2048) until, with `fold`, they
    reach 2 x D, which cost as much as their `FeatureSums` (a D x D float64 sum); then they are
    folded into those sums, and its later rows go straight into them. Memory is thus about the
    smaller of 4 x D bytes per image per side and 16 x D^2 bytes per group. KID needs every
    feature: without `fold` nothing is folded.

    `sync` adds up folded sides' sums across processes and gathers the other rows, tagged by
    `group_key`; `features` and `sums` then give one group's side.

    Args:
        fold: fold sides that reach 2 x D rows into sums.
        device: where the sums of a side this process has no rows of are made.
    """

    def __init__(self, fold: bool, device: torch.device | str = "cpu"):
        self.fold = fold
        self.device = torch.device(device)
        # The feature width D: set by the first update, or by `ImageQualityMetrics` from the other
        # processes' where this one saw no images.
        self.width: int | None = None
        self.rows: dict[tuple[str, bool], list[Tensor]] = {}
        self.folded: dict[tuple[str, bool], FeatureSums] = {}
        self._synced: dict[bool, tuple[Tensor, Tensor]] = {}

    def update(self, features: Tensor, group: str, real: bool) -> None:
        side = (group, real)
        self.width = features.shape[1]
        if side in self.folded:
            self.folded[side].add(features)
            return
        rows = self.rows.setdefault(side, [])
        rows.append(features.float())
        if self.fold and sum(map(len, rows)) >= 2 * self.width:
            self.fold_side(side)

    def fold_side(self, side: tuple[str, bool]) -> None:
        """Move a side's rows (maybe none) into its sums."""
        if side not in self.folded:
            self.folded[side] = FeatureSums(self.width, self.device)
        for rows in self.rows.pop(side, []):
            self.folded[side].add(rows)

    def sync(self) -> None:
        """All processes' features: under DDP (where every process must have folded the same sides)
        folded sides' sums are added up and the other rows gathered, process by process."""
        if self.width is None:  # no process saw any image
            return
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
        if distributed:
            for side in sorted(self.folded):  # one order on every process
                for tensor in self.folded[side].tensors():
                    torch.distributed.all_reduce(tensor)
        for real in (True, False):
            chunks = [(group, rows) for (group, is_real), side_rows in self.rows.items() if is_real == real for rows in side_rows]
            features = torch.cat([torch.empty(0, self.width, device=self.device), *(rows for _, rows in chunks)])
            keys = torch.cat([
                torch.empty(0, dtype=torch.long, device=self.device),
                *(torch.full((len(rows),), group_key(group), dtype=torch.long, device=self.device) for group, rows in chunks),
            ])
            if distributed:
                features, keys = torch.cat(gather_all_tensors(features)), torch.cat(gather_all_tensors(keys))
            self._synced[real] = features, keys
        self.rows.clear()  # now in the synced features

    def features(self, group: str, real: bool) -> Tensor:
        """One unfolded group side's synced features, in the order they were added."""
        features, keys = self._synced[real]
        return features[keys == group_key(group)]

    def sums(self, group: str, real: bool) -> FeatureSums:
        """One group side's synced sums, folded or of its features."""
        side = (group, real)
        return self.folded[side] if side in self.folded else FeatureSums.of(self.features(group, real))

    def reset(self) -> None:
        self.rows.clear()
        self.folded.clear()
        self._synced.clear()
