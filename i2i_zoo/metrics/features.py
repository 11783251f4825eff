"""Feature extraction for FID/KID: 8-bit quantisation, and a cache of real-image features keyed by
the images' content, so an epoch's distribution metrics cost only the translated images."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

CACHE_ENV = "I2I_ZOO_CACHE"


def default_cache_dir() -> Path:
    """`$I2I_ZOO_CACHE`, else `~/.cache/i2i_zoo`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "i2i_zoo")


def quantize(images: Tensor) -> Tensor:
    """[-1, 1] images as the 8-bit RGB pixels a PNG of them holds (rounded; gray repeated to RGB),
    so metrics see what a user who saves the translations would measure."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


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


class GroupedFeatures(Metric):
    """The features of every evaluation group's real and translated images, each row tagged with
    its group's `group_key`: list states, concatenated across processes by torchmetrics. Memory
    grows with the number of images (4 x D + 8 bytes each), not with the number of groups;
    `group` slices one group's features out of the (synced) states."""

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for kind in ("real", "fake"):
            self.add_state(f"{kind}_features", default=[], dist_reduce_fx="cat")
            self.add_state(f"{kind}_keys", default=[], dist_reduce_fx="cat")

    def update(self, features: Tensor, group: str, real: bool) -> None:
        kind = "real" if real else "fake"
        getattr(self, f"{kind}_features").append(features.float())
        keys = torch.full((len(features),), group_key(group), dtype=torch.long, device=features.device)
        getattr(self, f"{kind}_keys").append(keys)

    def group(self, name: str, real: bool) -> Tensor:
        """One group's real (or translated) features, in the order they were added (rank by rank
        when synced)."""
        kind = "real" if real else "fake"
        features, keys = getattr(self, f"{kind}_features"), getattr(self, f"{kind}_keys")
        if isinstance(features, list):
            if not features:
                return torch.empty(0, 0, device=self.device)
            features, keys = dim_zero_cat(features), dim_zero_cat(keys)
            setattr(self, f"{kind}_features", [features])
            setattr(self, f"{kind}_keys", [keys])
        return features[keys == group_key(name)]

    def compute(self) -> Tensor:
        """The number of rows held, real and translated."""
        return torch.tensor(sum(sum(len(k) for k in _as_list(getattr(self, f"{kind}_keys"))) for kind in ("real", "fake")))


def _as_list(state: Tensor | list[Tensor]) -> list[Tensor]:
    return state if isinstance(state, list) else [state]
