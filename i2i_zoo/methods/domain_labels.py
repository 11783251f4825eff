"""Labels of multi-domain methods (StarGAN, BiL-GAN): exclusive domains (one class per image) or
binary attributes (CelebA), as G's conditioning vectors, targets given by name, and the targets
each image is evaluated at."""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# The hair colours among CelebA's attributes: the original's test sets one and clears the others.
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

Target = str | int | Sequence[str] | Sequence[int] | Mapping[str, float] | Tensor


class DomainLabels:
    """For a LightningModule with `domains` (names in label order), `label_type` (`exclusive` or
    `attributes`) and `device`."""

    domains: list[str]
    label_type: str

    def label_vectors(self, labels: Tensor) -> Tensor:
        """Batch labels as G's conditioning vectors: one-hot for exclusive domains, the attribute
        vectors themselves otherwise."""
        if self.label_type == "exclusive":
            return F.one_hot(labels, len(self.domains)).float()
        return labels.float()

    def check_labels(self, labels: Tensor) -> None:
        """A clear error when a batch's labels do not have the shape and type of `label_type`."""
        if self.label_type == "exclusive":
            if labels.dim() != 1 or labels.is_floating_point():
                raise ValueError(
                    f"model.label_type is 'exclusive' (one class index per image, shape (N,) int64), but the batch's "
                    f"label is {labels.dtype} of shape {tuple(labels.shape)}; attribute vectors need label_type 'attributes'"
                )
        elif labels.dim() != 2 or not labels.is_floating_point() or labels.shape[1] != len(self.domains):
            raise ValueError(
                f"model.label_type is 'attributes' (a 0/1 vector of the {len(self.domains)} attributes {self.domains} "
                f"per image, shape (N, {len(self.domains)}) float), but the batch's label is {labels.dtype} of shape "
                f"{tuple(labels.shape)}; class indices need label_type 'exclusive'"
            )

    def target_labels(self, target: Target | None, batch_size: int) -> Tensor:
        """G's labels (batch_size, len(domains)) for `target`.

        `target`: a domain or attribute name or index; a list of names or indices (attributes:
        those 1, the others 0; exclusive: exactly one); a dict {name: value} (unnamed ones 0); or a
        tensor: class indices (N,) or a scalar for exclusive domains, label vectors (K,) or (N, K).
        """
        k = len(self.domains)
        if target is None:
            raise ValueError("no target: pass translate(images, target=...) or set model.predict_target")
        if isinstance(target, Tensor):
            labels = self._tensor_labels(target, batch_size)
        else:
            if isinstance(target, Mapping):
                values = {self._index(name): float(value) for name, value in target.items()}
            else:
                names = [target] if isinstance(target, (str, int)) else list(target)
                if self.label_type == "exclusive" and len(names) != 1:
                    raise ValueError(f"exclusive domains take one target domain, got {target!r}")
                values = {self._index(name): 1.0 for name in names}
            labels = torch.zeros(k)
            for index, value in values.items():
                labels[index] = value
            labels = labels.expand(batch_size, -1)
        return labels.to(self.device, torch.float32)

    def _index(self, name: str | int) -> int:
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise ValueError(f"a target names a domain or gives its index, got {name!r}")
        if isinstance(name, int):
            if not 0 <= name < len(self.domains):
                raise ValueError(f"target index {name} is out of range for the {len(self.domains)} domains {self.domains}")
            return name
        if name not in self.domains:
            raise ValueError(f"unknown target {name!r}; the model's domains are {self.domains}")
        return self.domains.index(name)

    def _tensor_labels(self, target: Tensor, batch_size: int) -> Tensor:
        k = len(self.domains)
        if not target.is_floating_point():
            if self.label_type != "exclusive" or target.dim() > 1:
                raise ValueError(f"integer targets are class indices of exclusive domains; got shape {tuple(target.shape)}")
            if target.numel() and not (0 <= int(target.min()) and int(target.max()) < k):
                raise ValueError(f"target indices out of range for the {k} domains {self.domains}")
            return F.one_hot(target.long().expand(batch_size), k)
        if target.shape[-1] != k or target.dim() > 2:
            raise ValueError(f"target label vectors should be ({k},) or (N, {k}) for the domains {self.domains}, got {tuple(target.shape)}")
        return target.expand(batch_size, -1)

    def evaluation_targets(self, labels: Tensor) -> dict[str, Tensor]:
        """The labels of each evaluated translation, by group: every image to each domain
        (exclusive), or each attribute flipped (attributes; a hair colour is set and the other
        selected hair colours cleared, as the original's test)."""
        if self.label_type == "exclusive":
            return {name: self.target_labels(k, len(labels)) for k, name in enumerate(self.domains)}
        hair = [k for k, name in enumerate(self.domains) if name in HAIR_COLOURS]
        targets = {}
        for k, name in enumerate(self.domains):
            c = labels.float().clone()
            if k in hair:
                c[:, hair] = 0
                c[:, k] = 1
            else:
                c[:, k] = 1 - c[:, k]
            targets[name] = c
        return targets

    def evaluation_groups(self, labels: Tensor, images: Tensor) -> Iterator[tuple[str, Tensor, Tensor, Tensor]]:
        """Per group of `evaluation_targets`: (name, G's labels, the real `images` of that
        domain, the labels a classifier of the translations should find). The real images are
        those of the domain (exclusive), with that hair colour, or all (other attributes, whose
        flips go both ways); the labels are the domain's index, or every attribute G was given."""
        for k, (name, c) in enumerate(self.evaluation_targets(labels).items()):
            if self.label_type == "exclusive":
                yield name, c, images[labels == k], torch.full_like(labels, k)
            elif name in HAIR_COLOURS:
                yield name, c, images[labels[:, k] > 0.5], c
            else:
                yield name, c, images, c
