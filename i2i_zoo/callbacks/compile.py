"""`CompileNetworks`: torch.compile a method's networks for training."""

from __future__ import annotations

import lightning as L
from torch import nn


class CompileNetworks(L.Callback):
    """Compile the method's generators (or the named networks) with `torch.compile` when fit
    starts. `nn.Module.compile` works in place: parameter names, checkpoints and exports are
    unchanged, and validation and predict run the compiled forward too.

    A discriminator trained with a gradient penalty (StarGAN, GANimation) must stay eager: the
    penalty's double backward does not compile. The default therefore compiles the generators
    only (`I2IMethod.generator_names`); name discriminators explicitly where they take no penalty
    (pix2pix's `D`, CycleGAN's `D_A`, `D_B`).

    Args:
        networks: attribute names of the networks to compile; default the method's generators.
        mode: torch.compile mode (`default`, `reduce-overhead` for CUDA graphs where shapes are
            static, `max-autotune`, ...).
        dynamic: torch.compile's `dynamic` (None: recompile once for a new shape, then treat it as dynamic).
        fullgraph: fail instead of falling back to eager for parts that do not compile.
        backend: torch.compile backend (`inductor`; `aot_eager` or `eager` to debug).
    """

    def __init__(
        self,
        networks: list[str] | None = None,
        mode: str | None = None,
        dynamic: bool | None = None,
        fullgraph: bool = False,
        backend: str = "inductor",
    ) -> None:
        self.networks, self.mode, self.dynamic, self.fullgraph, self.backend = networks, mode, dynamic, fullgraph, backend

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for module in self.modules(pl_module):
            module.compile(mode=self.mode, dynamic=self.dynamic, fullgraph=self.fullgraph, backend=self.backend)

    def modules(self, pl_module: L.LightningModule) -> list[nn.Module]:
        names = self.networks if self.networks is not None else getattr(pl_module, "generator_names", ())
        unknown = [name for name in names if not isinstance(getattr(pl_module, name, None), nn.Module)]
        if unknown or not names:
            networks = [name for name, child in pl_module.named_children() if any(True for _ in child.parameters())]
            raise ValueError(
                f"CompileNetworks(networks={self.networks}): {type(pl_module).__name__} has no network "
                f"{unknown if unknown else 'to compile'}; its networks are {networks}"
            )
        return [getattr(pl_module, name) for name in names]
