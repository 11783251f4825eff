"""The history of generated images that CycleGAN's discriminators learn from (Shrivastava et al.,
2017): training D on older fakes too damps the oscillation between G and D."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from i2i_zoo.distributed import gather_per_rank, own_rank_state


class ImagePool:
    """Holds up to `size` generated images. `query(images)` returns, per image: while the pool is
    filling, the image itself (and stores a copy); once full, with probability 0.5 a stored image
    (replaced by the new one), else the new image. Randomness comes from torch's RNG, which
    checkpoints restore. `size` 0 returns the images unchanged. The pool holds images, never
    graphs: the training step passes detached fakes, as the discriminator's step wants."""

    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"pool_size={size} must be at least 0")
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        chosen = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.detach().clone())
                chosen.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(self.size, ()))
                chosen.append(self.images[index].to(image.device))  # restored pools load on the CPU
                self.images[index] = image.detach().clone()
            else:
                chosen.append(image)
        return torch.stack(chosen)

    def state_dict(self) -> dict[str, Tensor | int]:
        return {"size": self.size, "images": torch.stack(self.images).cpu() if self.images else torch.empty(0)}

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        self.size = int(state["size"])
        self.images = list(state["images"])


# The pools are training state: a resumed run continues with the same history, each rank its own.
def save_pools(trainer: Any, checkpoint: dict[str, Any], pools: dict[str, ImagePool]) -> None:
    """Store `pools` (name -> pool) in a method's checkpoint, each rank's under its rank."""
    checkpoint["i2i_zoo"]["pools"] = gather_per_rank(trainer, {name: pool.state_dict() for name, pool in pools.items()})


def load_pools(trainer: Any, checkpoint: dict[str, Any], pools: dict[str, ImagePool]) -> None:
    """Restore `pools` from a checkpoint that `save_pools` wrote (this rank's); no-op without."""
    states = checkpoint.get("i2i_zoo", {}).get("pools")
    states = own_rank_state(trainer, states, "image pools") if states else None
    for name, pool in pools.items() if states else ():
        pool.load_state_dict(states[name])
