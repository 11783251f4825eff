"""Training throughput of a method: images/s, TFLOP/s and peak GPU memory for a set of
configurations (batch size, precision, channels_last, torch.compile), each timed through Lightning
(the method's own training_step in a Trainer, as `i2i-zoo fit` runs it) and, for pix2pix and
CycleGAN, through a plain PyTorch loop over the same networks and losses written as the original
code, so Lightning's overhead is a measured ratio.

    python benchmarks/train_throughput.py --method cyclegan --image-size 256 --batch-sizes 8 1 \\
        --precisions 32 bf16-mixed --compile off on --device cuda
    python benchmarks/train_throughput.py --recipe recipes/pix2pix/facades.yaml --device cuda
    python benchmarks/train_throughput.py --method stargan --tiny --device cpu   # a smoke run

Data are random tensors in pinned host memory, copied to the device every iteration as a
DataLoader's would be. Each run times `--warmup` iterations (not counted; compilation happens
there), then `--repeats` x `--iterations` iterations, each synchronised with the device; a
repeat's images/s is its batch size over its mean iteration time, and the reported value is the
median over repeats. FLOPs are counted once per method and batch size with
torch.utils.flop_counter on an eager float32 iteration (forward and backward of every network).
Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from i2i_zoo.callbacks import CompileNetworks
from i2i_zoo.methods import CycleGAN, GANimation, Pix2Pix, SPL, StarGAN
from i2i_zoo.methods.base import I2IMethod, frozen

PRECISIONS = ("32", "bf16-mixed", "16-mixed")
# Widths for --tiny (CPU smoke runs).
TINY = {
    Pix2Pix: dict(ngf=8, ndf=8, num_downs=5),
    CycleGAN: dict(ngf=8, ndf=8, generator="resnet_6blocks"),
    StarGAN: dict(g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=3),
    GANimation: dict(g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, d_repeat_num=3),
    SPL: dict(ngf=8, n_blocks=2),
}
METHODS = {"pix2pix": Pix2Pix, "cyclegan": CycleGAN, "stargan": StarGAN, "ganimation": GANimation, "spl": SPL}
DOMAINS = ["a", "b", "c", "d", "e"]


@dataclass
class Result:
    method: str
    loop: str  # lightning or plain
    batch_size: int
    precision: str
    channels_last: bool
    compile: bool
    images_per_s: float
    ms_per_iteration: float
    tflops: float | None
    peak_memory_gib: float | None


# ------------------------------------------------------------------------------------- models
def model_arguments(method: type[I2IMethod], image_size: int, tiny: bool, given: dict[str, Any]) -> dict[str, Any]:
    """The method's arguments: the recipe's or --model-args, the image size, the domains the
    random labels use, and the tiny widths for --tiny."""
    parameters = inspect.signature(method.__init__).parameters
    arguments = {**(TINY[method] if tiny else {}), **given}
    if "image_size" in parameters:
        arguments["image_size"] = image_size
    if method is StarGAN:
        arguments.setdefault("domains", DOMAINS)
        arguments.setdefault("label_type", "exclusive")
    if method is GANimation:
        arguments.setdefault("domains", DOMAINS)
    if method is Pix2Pix and "num_downs" not in arguments:
        arguments["num_downs"] = max(1, min(8, image_size.bit_length() - 1))
    return arguments


def make_batch(model: I2IMethod, batch_size: int, image_size: int, channels_last: bool, pin: bool) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    format = torch.channels_last if channels_last else torch.contiguous_format

    def image() -> torch.Tensor:
        x = torch.rand(batch_size, 3, image_size, image_size, generator=generator) * 2 - 1
        x = x.contiguous(memory_format=format)
        return x.pin_memory() if pin else x

    if isinstance(model, StarGAN):
        labels = torch.randint(len(model.domains), (batch_size,), generator=generator)
        if model.label_type == "attributes":
            labels = torch.rand(batch_size, len(model.domains), generator=generator).round()
        return {"image": image(), "label": labels}
    if isinstance(model, GANimation):
        conditions = len(model.domains)
        return {"image": image(), "label": torch.rand(batch_size, conditions, generator=generator),
                "target_label": torch.rand(batch_size, conditions, generator=generator)}
    return {"A": image(), "B": image()}


# ------------------------------------------------------------------ plain PyTorch (the originals)
def plain_step(model: I2IMethod, scaler: torch.amp.GradScaler) -> Callable[[dict[str, torch.Tensor]], None] | None:
    """One training iteration of `model`'s networks and losses as the original code runs it, with
    its own Adam optimizers (and `scaler` for 16-mixed); None for methods without one here."""

    def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    if isinstance(model, Pix2Pix):
        opt_G = torch.optim.Adam(model.G.parameters(), lr=model.lr_g, betas=model.betas)
        opt_D = torch.optim.Adam(model.D.parameters(), lr=model.lr_d, betas=model.betas)

        def step(batch):
            real_a, real_b = batch["A"], batch["B"]
            fake_b = model.G(real_a)
            loss_D = 0.5 * (
                model.gan_loss.d_real(model.D(torch.cat([real_a, real_b], 1)))
                + model.gan_loss.d_fake(model.D(torch.cat([real_a, fake_b.detach()], 1)))
            )
            update(opt_D, loss_D)
            with frozen(model.D):
                loss_G = model.gan_loss.g(model.D(torch.cat([real_a, fake_b], 1)))
            update(opt_G, loss_G + F.l1_loss(fake_b, real_b) * model.lambda_L1)

        return step
    if isinstance(model, CycleGAN):
        opt_G = torch.optim.Adam([*model.G.parameters(), *model.F.parameters()], lr=model.lr_g, betas=model.betas)
        opt_D = torch.optim.Adam([*model.D_A.parameters(), *model.D_B.parameters()], lr=model.lr_d, betas=model.betas)
        identity = model.lambda_identity

        def step(batch):
            real_a, real_b = batch["A"], batch["B"]
            fake_b, fake_a = model.G(real_a), model.F(real_b)
            rec_a, rec_b = model.F(fake_b), model.G(fake_a)
            with frozen(model.D_A, model.D_B):
                loss_G = model.gan_loss.g(model.D_B(fake_b)) + model.gan_loss.g(model.D_A(fake_a))
            loss_G = loss_G + F.l1_loss(rec_a, real_a) * model.lambda_A + F.l1_loss(rec_b, real_b) * model.lambda_B
            if identity > 0:
                loss_G = loss_G + F.l1_loss(model.G(real_b), real_b) * model.lambda_B * identity
                loss_G = loss_G + F.l1_loss(model.F(real_a), real_a) * model.lambda_A * identity
            update(opt_G, loss_G)
            loss_D = 0.5 * (
                model.gan_loss.d_real(model.D_A(real_a)) + model.gan_loss.d_fake(model.D_A(model.pool_A.query(fake_a.detach())))
                + model.gan_loss.d_real(model.D_B(real_b)) + model.gan_loss.d_fake(model.D_B(model.pool_B.query(fake_b.detach())))
            )
            update(opt_D, loss_D)

        return step
    return None


def run_plain(model, batch, device, precision, iterations, warmup) -> list[float]:
    step = plain_step(model, torch.amp.GradScaler(device.type, enabled=precision == "16-mixed"))
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    model.train()
    times = []
    for iteration in range(iterations):
        if iteration == warmup:
            reset_peak_memory(device)
        start = time.perf_counter()
        moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            step(moved)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


# ------------------------------------------------------------------------------------- Lightning
class _Repeated(Dataset):
    """The same (pinned) batch `length` times; with batch_size=None a DataLoader yields it as is."""

    def __init__(self, batch: dict[str, torch.Tensor], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batch


def loader(batch: dict[str, torch.Tensor], length: int) -> DataLoader:
    return DataLoader(_Repeated(batch, length), batch_size=None)


class IterationTimer(L.Callback):
    """Wall time between consecutive ends of training batches (fetch, transfer, hooks, step);
    the peak memory counts from the end of the warm-up."""

    def __init__(self, warmup: int) -> None:
        self.ends: list[float] = []
        self.warmup = warmup

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        synchronize(pl_module.device)
        self.ends.append(time.perf_counter())
        if len(self.ends) == self.warmup + 1:
            reset_peak_memory(pl_module.device)


def run_lightning(model, batch, device, precision, iterations, warmup, compiler) -> list[float]:
    timer = IterationTimer(warmup)
    callbacks: list[L.Callback] = [timer] + ([compiler] if compiler else [])
    trainer = L.Trainer(
        accelerator=device.type, devices=1, precision=precision, max_epochs=1, limit_train_batches=iterations + 1,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, benchmark=device.type == "cuda", callbacks=callbacks,
    )
    trainer.fit(model, train_dataloaders=loader(batch, iterations + 1))
    return [b - a for a, b in zip(timer.ends, timer.ends[1:])]


class _CountFlops(L.Callback):
    def __init__(self) -> None:
        self.counter = FlopCounterMode(display=False)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 1:  # after the first iteration's lazy set-up
            self.counter.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == 1:
            self.counter.__exit__(None, None, None)


def count_flops(make_model, batch, device) -> int:
    """FLOPs of one eager float32 Lightning training iteration."""
    counter = _CountFlops()
    trainer = L.Trainer(
        accelerator=device.type, devices=1, max_epochs=1, limit_train_batches=2, limit_val_batches=0,
        num_sanity_val_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[counter],
    )
    trainer.fit(make_model(), train_dataloaders=loader(batch, 2))
    return counter.counter.get_total_flops()


# ------------------------------------------------------------------------------------------ main
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    """Peak memory is that of training, not of the warm-up's one-off work (cuDNN's algorithm
    search with cudnn.benchmark, compilation)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def summarise(times: list[float], warmup: int, repeats: int, batch_size: int) -> tuple[float, float]:
    """Median over repeats of images/s, and the matching ms per iteration."""
    timed = times[warmup:]
    size = len(timed) // repeats
    rates = [batch_size / statistics.fmean(timed[i * size:(i + 1) * size]) for i in range(repeats)]
    rate = statistics.median(rates)
    return rate, 1000 * batch_size / rate


def recipe_model(recipe: Path) -> tuple[type[I2IMethod], dict[str, Any]]:
    """The model class and init_args of a recipe (with its `base:` recipes applied first)."""
    from i2i_zoo.cli import expand_recipe_bases

    merged: dict[str, Any] = {}
    for argument in expand_recipe_bases(["-c", str(recipe)]):
        model = (yaml.safe_load(Path(argument.removeprefix("--config=")).read_text()) or {}).get("model") or {}
        if "class_path" in model:
            merged["class_path"] = model["class_path"]
        merged.setdefault("init_args", {}).update(model.get("init_args") or {})
    class_path = merged.get("class_path")
    if class_path is None:
        raise ValueError(f"{recipe} names no model class_path")
    module_name, _, name = class_path.rpartition(".")
    method = getattr(importlib.import_module(module_name or "i2i_zoo.methods"), name)
    # Data-linked settings come from --image-size and the random data.
    arguments = {k: v for k, v in merged["init_args"].items() if k not in ("image_size", "domains")}
    return method, arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--method", choices=METHODS, help="a method with its paper defaults")
    what.add_argument("--recipe", type=Path, help="a recipe whose model settings to use")
    parser.add_argument("--model-args", default="{}", help='JSON of model arguments, e.g. \'{"ngf": 32}\'')
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["32"])
    parser.add_argument("--channels-last", nargs="+", choices=("off", "on"), default=["off"])
    parser.add_argument("--compile", nargs="+", choices=("off", "on"), default=["off"])
    parser.add_argument("--compile-networks", nargs="+", help="what --compile on compiles (default: the generators)")
    parser.add_argument("--compile-mode", help="torch.compile mode, e.g. reduce-overhead (CUDA graphs) or max-autotune")
    parser.add_argument("--loops", nargs="+", choices=("lightning", "plain"), default=["lightning", "plain"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10, help="iterations per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny widths (CPU smoke runs)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Result]:
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.method:
        method, given = METHODS[args.method], {}
    else:
        method, given = recipe_model(args.recipe)
    given |= json.loads(args.model_args)
    arguments = model_arguments(method, args.image_size, args.tiny, given)
    name = method.__name__

    def make_model() -> I2IMethod:
        torch.manual_seed(0)
        return method(**arguments)

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    compiler = CompileNetworks(args.compile_networks, mode=args.compile_mode)
    results = []
    total = args.warmup + args.repeats * args.iterations
    for batch_size in args.batch_sizes:
        flops = None
        if not args.no_flops:
            flops = count_flops(make_model, make_batch(make_model(), batch_size, args.image_size, False, False), device)
        for precision in args.precisions:
            for channels_last in (c == "on" for c in args.channels_last):
                for compiled in (c == "on" for c in args.compile):
                    for loop in args.loops:
                        model = make_model()
                        if loop == "plain" and plain_step(model, torch.amp.GradScaler(enabled=False)) is None:
                            continue
                        model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
                        batch = make_batch(model, batch_size, args.image_size, channels_last, device.type == "cuda")
                        if loop == "plain":
                            if compiled:
                                for network in compiler.modules(model):
                                    network.compile(mode=args.compile_mode)
                            times = run_plain(model, batch, device, precision, total, args.warmup)
                        else:
                            times = run_lightning(model, batch, device, precision, total, args.warmup, compiled and compiler)
                        rate, ms = summarise(times, args.warmup, args.repeats, batch_size)
                        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
                        tflops = None if flops is None else flops * rate / batch_size / 1e12
                        result = Result(name, loop, batch_size, precision, channels_last, compiled, rate, ms, tflops, peak)
                        results.append(result)
                        print(json.dumps(asdict(result)), flush=True)
                        torch._dynamo.reset()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return results


def print_table(results: list[Result]) -> None:
    plain = {(r.batch_size, r.precision, r.channels_last, r.compile): r.images_per_s for r in results if r.loop == "plain"}
    print("\n| method | loop | batch | precision | channels_last | compile | images/s | ms/iter | TFLOP/s | peak GiB | plain / lightning |")
    print("|---|---|---:|---|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = plain.get((r.batch_size, r.precision, r.channels_last, r.compile))
        ratio_text = f"{ratio / r.images_per_s:.2f}" if ratio and r.loop == "lightning" else ""
        tflops = "" if r.tflops is None else f"{r.tflops:.3g}"
        peak = "" if r.peak_memory_gib is None else f"{r.peak_memory_gib:.2f}"
        print(
            f"| {r.method} | {r.loop} | {r.batch_size} | {r.precision} | {r.channels_last} | {r.compile} | "
            f"{r.images_per_s:.1f} | {r.ms_per_iteration:.1f} | {tflops} | {peak} | {ratio_text} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
