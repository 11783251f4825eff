"""A tiny two-phase method for the tests of the training contract (phases, parameter groups,
accumulation, EMA): a warm-up phase freezes G while D and an adaptor train, then G trains and
the adaptor is frozen. Registered by no one: the contract test adds it to the methods it checks,
and the DDP worker trains it across the unfreeze."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn.functional import l1_loss

from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.methods.phases import Phase
from i2i_zoo.methods.registry import TINY_SIZE, MethodEntry, paired_batch
from i2i_zoo.nets import ResnetGenerator


class PhasedMethod(I2IMethod):
    """`G` (batch norm) maps A to B by L1; `D` and `adaptor` (one optimizer, two parameter groups)
    minimise a made-up score of G(adaptor(A)). Phases: `warmup` (G frozen in `frozen_mode`) until `switch`, then
    `joint` (adaptor frozen in eval mode)."""

    def __init__(
        self,
        switch: int = 2,
        frozen_mode: str = "eval",
        accumulation: int = 1,
        optimizer: str = "torch.optim.Adam",
        ema_decay: float = 0.0,
        ema_start: int = 0,
        max_iterations: int | None = None,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start, max_iterations=max_iterations)
        self.save_hyperparameters()
        self.G = ResnetGenerator(3, 3, ngf=4, n_blocks=1, norm="batch")
        self.D = nn.Conv2d(3, 1, 3)
        self.adaptor = nn.Conv2d(3, 3, 1)
        self.switch, self.frozen_mode = switch, frozen_mode
        self.accumulation, self.optimizer_class = accumulation, optimizer
        self.init_ema()

    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return {
            "G": OptimizerSpec(self.G.parameters(), 1e-2, self.optimizer_class, accumulation=self.accumulation),
            "D": OptimizerSpec(
                [{"params": self.D.parameters(), "name": "D"}, {"params": self.adaptor.parameters(), "name": "adaptor", "lr": 2e-2}],
                1e-2,
                self.optimizer_class,
            ),
        }

    def phases(self) -> list[Phase]:
        return [Phase("warmup", 0, {"G": self.frozen_mode}), Phase("joint", self.switch, {"adaptor": "eval"})]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = self.require(batch, "A", "B")
        # The adaptor learns through G, frozen or not, as DeepI2I's adaptors do.
        loss_D = self.D(self.G(self.adaptor(real_a))).pow(2).mean() + self.D(real_b).mean()
        self.optimize("D", loss_D, {"D": loss_D})

        def generator_loss(micro_batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
            loss = l1_loss(self.G(micro_batch["A"]), micro_batch["B"])
            return loss, {"G_L1": loss}

        self.optimize("G", generator_loss, batch=batch)

    def translate(self, images: Tensor) -> Tensor:
        return self.inference_net("G")(images)

    def export_generator(self) -> nn.Module:
        return self.inference_net("G")

    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        real_a, real_b = self.require(batch, "A", "B")
        return {"AtoB": EvalImages(fake=self.translate(real_a), real=real_b, target=real_b)}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        real_a, real_b = self.require(batch, "A", "B")
        return {"input": real_a, "output": self.translate(real_a), "target": real_b}


PHASED = MethodEntry(
    PhasedMethod,
    tiny={"switch": 2},
    make_batch=paired_batch,
    datamodule="PairedDataModule",
    demo_data={"root": "demo:shapes", "load_size": TINY_SIZE, "crop_size": TINY_SIZE, "batch_size": 2, "num_workers": 0,
               "val_split": None},
    translate_inputs=lambda batch: (batch["A"], {}),
)
