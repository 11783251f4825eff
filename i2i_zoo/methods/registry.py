"""The registry of methods: every method the zoo ships, with what it takes to build a tiny one and
feed it, so the command line, `convert`, `export` and the contract test (tests/methods/
test_contract.py) know every method from one list. A new method gets those checks by registering.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from i2i_zoo.methods.asymgan import AsymGAN
from i2i_zoo.methods.base import I2IMethod
from i2i_zoo.methods.bilgan import BiLGAN
from i2i_zoo.methods.biggan import BigGAN
from i2i_zoo.methods.cyclegan import CycleGAN
from i2i_zoo.methods.deepi2i import DeepI2I
from i2i_zoo.methods.ganimation import GANimation
from i2i_zoo.methods.pix2pix import Pix2Pix
from i2i_zoo.methods.spl import SPL, SPLReferenceTransfer, SPLSuperResolution
from i2i_zoo.methods.stargan import StarGAN

# Sides of the tiny models' images.
TINY_SIZE = 32
TINTS = ["red", "green", "blue", "yellow"]


def _images(n: int, generator: torch.Generator, side: int = TINY_SIZE) -> Tensor:
    return torch.rand(n, 3, side, side, generator=generator) * 2 - 1


def paired_batch(n: int, generator: torch.Generator) -> dict[str, Any]:
    return {"A": _images(n, generator), "B": _images(n, generator)}


def tint_batch(n: int, generator: torch.Generator) -> dict[str, Any]:
    return {"image": _images(n, generator), "label": torch.randint(len(TINTS), (n,), generator=generator)}


def level_batch(n: int, generator: torch.Generator) -> dict[str, Any]:
    # target_label: as MultiDomainDataModule's training batches hold it (GANimation trains toward it).
    return {"image": _images(n, generator), "label": torch.rand(n, 1, generator=generator),
            "target_label": torch.rand(n, 1, generator=generator)}


def super_resolution_batch(n: int, generator: torch.Generator) -> dict[str, Any]:
    return {"lr": _images(n, generator, TINY_SIZE // 4), "hr": _images(n, generator)}


def reference_batch(n: int, generator: torch.Generator) -> dict[str, Any]:
    return {"source": _images(n, generator), "reference": _images(n, generator)}


@dataclass(frozen=True)
class MethodEntry:
    """A registered method.

    Attributes:
        cls: the method.
        tiny: init arguments of a tiny instance (32 px images, 8 filters, every network stepped
            each iteration) for tests and examples.
        make_batch: a training batch for the tiny instance: (batch size, generator) -> batch dict.
        datamodule: the datamodule class (in `i2i_zoo.data`) of its demo data, and
            `demo_data` its arguments for the tiny instance (no worker processes).
        translate_inputs: the batch -> (images, conditions) that `translate` takes; for a method
            that generates (`cls.generates`), the batch -> (class labels, {}) that `generate` takes.
        export_conditions: what `export_generator` takes.
        scale: output side / input side of the tiny, untrained instance.
        edge_cases: further init arguments, each a setting the contract test trains one step with.
    """

    cls: type[I2IMethod]
    tiny: dict[str, Any]
    make_batch: Callable[[int, torch.Generator], dict[str, Any]]
    datamodule: str
    demo_data: dict[str, Any]
    translate_inputs: Callable[[dict[str, Any]], tuple[Tensor, dict[str, Any]]]
    export_conditions: dict[str, Any] = field(default_factory=dict)
    scale: float = 1
    edge_cases: tuple[dict[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return self.cls.__name__

    def build(self, **overrides: Any) -> I2IMethod:
        """The tiny instance, with `overrides`."""
        return self.cls(**{**self.tiny, **overrides})

    def build_datamodule(self, **overrides: Any):
        import i2i_zoo.data

        return getattr(i2i_zoo.data, self.datamodule)(**{**self.demo_data, **overrides})


METHODS: dict[str, MethodEntry] = {}


def register(entry: MethodEntry) -> MethodEntry:
    if entry.name in METHODS:
        raise ValueError(f"method {entry.name} is registered twice")
    METHODS[entry.name] = entry
    return entry


def method_class(name: str) -> type[I2IMethod]:
    """A registered method's class by its name, with an error listing the registered ones."""
    if name not in METHODS:
        raise ValueError(f"method {name!r} is not registered; the zoo has {', '.join(METHODS)}")
    return METHODS[name].cls


def stored_method_class(class_path: str, source: str) -> type[I2IMethod]:
    """The registered method that a checkpoint's class path names, from `source` (for errors)."""
    method = own_class(class_path, [entry.cls for entry in METHODS.values()])
    if method is None:
        raise ValueError(
            f"{source} names the method class {class_path!r}, which is not one of the registered methods "
            f"({', '.join(METHODS)}); a class named by a checkpoint is never imported from elsewhere"
        )
    return method


def own_class(class_path: str, allowed: list[type]) -> type | None:
    """The class among `allowed` that `class_path` names inside the i2i_zoo package, else None;
    a module outside the package is never imported (a file must not choose code to run)."""
    module_name, _, name = class_path.rpartition(".")
    if module_name != "i2i_zoo" and not module_name.startswith("i2i_zoo."):
        return None
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    return cls if cls in allowed else None


_LOADER = {"batch_size": 2, "num_workers": 0, "val_split": None}
_PAIRED_DATA = {"root": "demo:shapes", "load_size": TINY_SIZE, "crop_size": TINY_SIZE, **_LOADER}

register(MethodEntry(
    Pix2Pix,
    tiny={"ngf": 8, "ndf": 8, "num_downs": 5, "image_size": TINY_SIZE, "lr_policy": "constant"},
    make_batch=paired_batch,
    datamodule="PairedDataModule",
    demo_data=_PAIRED_DATA,
    translate_inputs=lambda batch: (batch["A"], {}),
))
register(MethodEntry(
    CycleGAN,
    tiny={"generator": "resnet_6blocks", "ngf": 8, "ndf": 8, "n_layers_D": 2, "image_size": TINY_SIZE, "pool_size": 4,
          "lr_policy": "constant"},
    make_batch=paired_batch,
    datamodule="UnpairedDataModule",
    demo_data={**_PAIRED_DATA, "root": "demo:recolor"},
    translate_inputs=lambda batch: (batch["B"], {"direction": "BtoA"}),
    export_conditions={"direction": "BtoA"},
    edge_cases=({"pool_size": 0}, {"lambda_identity": 0.5}),
))
register(MethodEntry(
    StarGAN,
    tiny={"domains": TINTS, "label_type": "exclusive", "image_size": TINY_SIZE, "g_conv_dim": 8, "d_conv_dim": 8,
          "g_repeat_num": 1, "d_repeat_num": 3, "n_critic": 1},
    make_batch=tint_batch,
    datamodule="MultiDomainDataModule",
    demo_data={"root": "demo:tints", "domains": TINTS, "image_size": TINY_SIZE, **_LOADER},
    translate_inputs=lambda batch: (batch["image"], {"target": "blue"}),
    export_conditions={"target": "blue"},
    edge_cases=({"n_critic": 2},),
))
register(MethodEntry(
    GANimation,
    tiny={"domains": ["brightness"], "image_size": TINY_SIZE, "g_conv_dim": 8, "d_conv_dim": 8, "g_repeat_num": 1,
          "d_repeat_num": 3, "train_G_every_n_iterations": 1, "lr_policy": "constant"},
    make_batch=level_batch,
    datamodule="MultiDomainDataModule",
    demo_data={"root": "demo:levels", "layout": "csv", "domains": ["brightness"], "image_size": TINY_SIZE, **_LOADER},
    translate_inputs=lambda batch: (batch["image"], {"target": [0.7]}),
    export_conditions={"target": [0.7]},
))
register(MethodEntry(
    SPL,
    tiny={"ngf": 8, "n_blocks": 1},
    make_batch=paired_batch,
    datamodule="PairedDataModule",
    demo_data=_PAIRED_DATA,
    translate_inputs=lambda batch: (batch["A"], {}),
    edge_cases=({"l1_weight": 1.0, "lr_policy": "constant", "generator": "resnet"},),
))
register(MethodEntry(
    SPLSuperResolution,
    tiny={"scale": 4, "num_features": 8, "num_blocks": 1},
    make_batch=super_resolution_batch,
    datamodule="SuperResolutionDataModule",
    demo_data={"root": "demo:photos", "scale": 4, "patch_size": TINY_SIZE, "val_hr": None, "val_lr": None,
               "batch_size": 2, "num_workers": 0},
    translate_inputs=lambda batch: (batch["lr"], {}),
    scale=4,
))
register(MethodEntry(
    SPLReferenceTransfer,
    tiny={"ngf": 8, "n_blocks": 1},
    make_batch=reference_batch,
    datamodule="ReferencePairDataModule",
    demo_data={**_PAIRED_DATA, "root": "demo:palettes"},
    translate_inputs=lambda batch: (batch["source"], {"reference": batch["reference"]}),
    edge_cases=({"generator": "resnet"},),
))
register(MethodEntry(
    BigGAN,
    tiny={"domains": TINTS, "image_size": TINY_SIZE, "G_ch": 4, "D_ch": 4, "dim_z": 8, "shared_dim": 8,
          "G_attn": [16], "D_attn": [16]},
    make_batch=tint_batch,
    datamodule="MultiDomainDataModule",
    demo_data={"root": "demo:tints", "domains": TINTS, "image_size": TINY_SIZE, **_LOADER},
    translate_inputs=lambda batch: (batch["label"], {}),
    edge_cases=({"num_D_steps": 2},
                {"num_G_accumulations": 2, "num_D_accumulations": 2, "G_ortho_weight": 1e-4, "D_ortho_weight": 1e-4}),
))
register(MethodEntry(
    DeepI2I,
    # From scratch (transfer needs a pretrained BigGAN file), with a 5-iteration warm-up so the
    # contract's resume (checkpoint after iteration 4) crosses the phase switch.
    tiny={"domains": TINTS, "image_size": TINY_SIZE, "G_ch": 4, "D_ch": 4, "dim_z": 8, "shared_dim": 8, "G_attn": [16],
          "D_attn": [16], "from_scratch": True, "warmup_iterations": 5},
    make_batch=tint_batch,
    datamodule="MultiDomainDataModule",
    demo_data={"root": "demo:tints", "domains": TINTS, "image_size": TINY_SIZE, **_LOADER},
    translate_inputs=lambda batch: (batch["image"], {"target_class": "blue"}),
    export_conditions={"target_class": "blue"},
    edge_cases=({"feature_pairs": "reference", "feature_distance": "mse"},),
))
register(MethodEntry(
    AsymGAN,
    # X = B (the demo's photos; A holds its label maps). No VGG file offline: no content or style term.
    tiny={"rich_domain": "B", "image_size": TINY_SIZE, "ngf": 8, "ndf": 8, "pool_size": 4, "lambda7": 0.0, "lambda8": 0.0,
          "lr_policy": "constant"},
    make_batch=paired_batch,
    datamodule="UnpairedDataModule",
    demo_data={**_PAIRED_DATA, "root": "demo:shapes"},
    translate_inputs=lambda batch: (batch["A"], {"direction": "YtoX"}),
    export_conditions={"direction": "YtoX"},
    edge_cases=({"variant": "wo_ex", "z_injection": "decoder_concat", "pool_size": 0},),
))
register(MethodEntry(
    BiLGAN,
    # 16 px phase 1, 32 px phase 2 from iteration 5, so the contract's resume (checkpoint after
    # iteration 4) crosses the switch; the demo's parameter-free identity encoder.
    tiny={"domains": TINTS, "label_type": "exclusive", "image_size": TINY_SIZE, "low_size": TINY_SIZE // 2, "g_conv_dim": 8,
          "d_conv_dim": 8, "g_repeat_num": 1, "d_repeat_num": 3, "g2_features": 8, "g2_blocks": 1,
          "identity_encoder": "luma_thumbnail", "phase2_start": 5},
    make_batch=tint_batch,
    datamodule="MultiDomainDataModule",
    demo_data={"root": "demo:tints", "domains": TINTS, "image_size": TINY_SIZE, **_LOADER},
    translate_inputs=lambda batch: (batch["image"], {"target": "blue"}),
    export_conditions={"target": "blue"},
    scale=0.5,  # before the switch G1 translates at low_size
    edge_cases=({"identity_loss": "cycle", "gan_mode": "vanilla"}, {"single_phase": True}),
))
