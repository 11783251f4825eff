"""`i2i-zoo export`: a trained method's generator as an ONNX model or a torch.export program
(.pt2), checked against PyTorch before it is written.

The exported network is the method's `export_generator(**conditions)` in eval mode, float32, on
the CPU: deterministic (pix2pix's default `inference_mode: train`, dropout and batch statistics
at test time, is not exported; the file computes what `inference_mode: eval` does). Batch size is
dynamic; height and width are dynamic multiples of the generator's `size_multiple` from the
smallest multiple it takes, unless the network cannot be exported that way: then they are fixed
to `example_size` and a warning says so.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import inspect
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.fx.experimental._config as fx_config
import yaml
from torch import Tensor, nn
from torch.export import Dim

from i2i_zoo.callbacks import read_checkpoint
from i2i_zoo.methods import I2IMethod, method_class, stored_method_class

FORMATS = ("onnx", "pt2")
ONNX_INPUT, ONNX_OUTPUT = "image", "translated"
# Exported files must reproduce PyTorch's output to this (images are in [-1, 1]).
DEFAULT_ATOL = 1e-4
# Traced size when none is given: at least this many pixels a side, so the check also sees image
# interior and not only reflection-padded borders.
DEFAULT_EXAMPLE_PIXELS = 64


def export_generator_file(
    model_or_checkpoint: I2IMethod | str | os.PathLike,
    output: str | os.PathLike,
    format: str = "onnx",
    example_size: int | None = None,
    model_class: str | type[I2IMethod] | None = None,
    atol: float = DEFAULT_ATOL,
    **conditions: Any,
) -> Path:
    """Export the generator of a method (or of a Lightning checkpoint of one) to `output`.

    Args:
        model_or_checkpoint: a method, or the path of its checkpoint (see `load_method`).
        output: the file to write, ending in `.onnx` or `.pt2` as `format`; written atomically and
            only once the check passed.
        format: `onnx` (torch.onnx's dynamo-based exporter) or `pt2` (`torch.export.save`).
        example_size: side of the square images traced; a multiple of the generator's
            `size_multiple`. Default: the smallest multiple of at least 64 pixels and twice
            `size_multiple`. It is the fixed size where sides cannot be dynamic.
        model_class: the method class of a checkpoint that does not name one (see `load_method`).
        atol: largest absolute difference to PyTorch the check accepts.
        conditions: what `export_generator` selects, e.g. `direction="BtoA"` for CycleGAN.

    Returns:
        The path written.
    """
    if format not in FORMATS:
        raise ValueError(f"export format {format!r} is unknown; choose one of {FORMATS}")
    output = Path(output)
    if output.suffix != f".{format}":
        raise ValueError(f"output {output} should end in .{format} for format {format}")
    if format == "onnx":
        _require_onnx_packages()
    model = model_or_checkpoint
    if not isinstance(model, I2IMethod):
        model = load_method(model_or_checkpoint, model_class)
    generator = _plain_generator(model, conditions)
    channels = generator.in_channels
    multiple = getattr(generator, "size_multiple", model.size_multiple)
    side = example_size or multiple * max(2, -(-DEFAULT_EXAMPLE_PIXELS // multiple))
    # torch.export fixes a dimension whose example is 1 (here: 1 x multiple).
    if side % multiple or side < 2 * multiple:
        raise ValueError(
            f"example size {side} (--example_size) should be a multiple of {multiple} of at least "
            f"{2 * multiple} for the generator of {type(model).__name__}"
        )
    smallest = _smallest_side(generator, channels, multiple, side)

    # Batch 2: torch.export fixes a dimension whose example is 1.
    example = _random_images(2, channels, side, side, seed=0)
    dynamic = ({0: Dim("batch"), 2: multiple * Dim("height", min=smallest // multiple),
                3: multiple * Dim("width", min=smallest // multiple)},)
    static = ({0: Dim("batch")},)
    # torch.export assumes dynamic sizes are at least 2, which would exclude the smallest side (a
    # U-Net's 1x1 bottleneck, e.g. 256x256 images for unet_256); size-oblivious reasoning keeps
    # it, and the check below runs the export at that side.
    with fx_config.patch(backed_size_oblivious=True):
        try:
            exported = torch.export.export(generator, (example,), dynamic_shapes=dynamic)
            axes = {0: "batch", 2: "height", 3: "width"}
        except Exception as error:  # any tracing failure: the static export reports its own
            warnings.warn(
                f"{type(generator).__name__} cannot be exported with dynamic height and width "
                f"({_first_line(error)}); exporting for {side}x{side} images only "
                "(--example_size sets the size)",
                stacklevel=2,
            )
            exported = torch.export.export(generator, (example,), dynamic_shapes=static)
            axes = {0: "batch"}
        if format == "onnx":
            # The dynamo-based exporter (torch.onnx's default) converts the program above: given
            # the module, it would trace again with shape guards turned into runtime asserts,
            # which ONNX drops, so a net that needs fixed sides would pass as dynamic. Named axes
            # only rename the inputs' dimensions; `verbose=False` silences its progress lines.
            exported = torch.onnx.export(
                exported, (example,), dynamic_shapes=(axes,), input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT], verbose=False,
            )
    spatial_dynamic = len(axes) == 3

    # The check: a batch size and (where dynamic) sides other than the traced ones, batch 1
    # (the 0/1 case torch.export special-cases) and the smallest side.
    check_shape = (1, channels, smallest, side + multiple) if spatial_dynamic else (1, channels, side, side)
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        if format == "onnx":
            # One self-contained file (no external data), so one rename publishes it.
            exported.save(partial, external_data=False)
        else:
            torch.export.save(exported, partial)
        difference = _check(partial, format, generator, check_shape, atol)
        _fsync(partial)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)

    sides = (
        f"H and W multiples of {multiple} from {smallest}" if spatial_dynamic else f"H and W fixed to {side}"
    )
    print(
        f"wrote {output} ({format}): input (batch, {channels}, H, W) in [-1, 1], any batch, {sides}; "
        f"max abs difference to PyTorch on a {'x'.join(map(str, check_shape))} batch: {difference:.2e}"
    )
    return output


def load_method(checkpoint: str | os.PathLike, model_class: str | type[I2IMethod] | None = None) -> I2IMethod:
    """The method stored in a Lightning checkpoint, on the CPU.

    Its class is `model_class` (a class, a name in `i2i_zoo.methods` such as `Pix2Pix`, or a dotted
    path), else the checkpoint's `_class_path` hyperparameter, which `i2i-zoo fit` (LightningCLI)
    writes; a checkpoint of a model built in Python has none and needs `model_class`.
    """
    path = Path(checkpoint)
    stored = read_checkpoint(path, "--ckpt")
    if model_class is None:
        stored_class = stored.get("hyper_parameters", {}).get("_class_path")
        if stored_class is None:
            raise ValueError(
                f"checkpoint {path} does not name its method class (no _class_path in its hyper_parameters: "
                "it was not written by `i2i-zoo fit`); pass --model_class, e.g. --model_class Pix2Pix "
                "or --model_class my_package.MyMethod"
            )
        # A class the file names must be a registered one; a user's own comes from --model_class.
        cls = stored_method_class(stored_class, f"checkpoint {path}")
    else:
        cls = resolve_method_class(model_class) if isinstance(model_class, str) else model_class
    return cls.load_from_checkpoint(path, map_location="cpu", weights_only=True)


def resolve_method_class(name: str) -> type[I2IMethod]:
    """A method class from a registered name (`CycleGAN`) or a dotted path (a user's own method)."""
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        try:
            return method_class(name)
        except ValueError as error:
            raise ValueError(f"--model_class {name!r}: {error}, or a dotted path such as my_package.MyMethod") from error
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"method class {name!r} (--model_class) cannot be imported: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, I2IMethod)):
        raise ValueError(f"{name!r} (--model_class) is not a subclass of i2i_zoo.methods.I2IMethod")
    return cls


def _plain_generator(model: I2IMethod, conditions: dict[str, Any]) -> nn.Module:
    """A copy of the generator for `conditions`, in eval mode, float32, on the CPU (the model itself
    keeps its mode, dtype and device)."""
    parameters = inspect.signature(model.export_generator).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(conditions) - set(parameters))
        if unknown:
            raise ValueError(
                f"{type(model).__name__}.export_generator takes the conditions {sorted(parameters) or 'none'}, "
                f"not {unknown} (--condition)"
            )
    generator = copy.deepcopy(model.export_generator(**conditions)).float().cpu().eval().requires_grad_(False)
    if not isinstance(getattr(generator, "in_channels", None), int):
        raise TypeError(
            f"{type(model).__name__}.export_generator returned a {type(generator).__name__} without an "
            "integer `in_channels`, which exported generators expose (docs/architecture.md)"
        )
    return generator


def _smallest_side(generator: nn.Module, channels: int, multiple: int, side: int) -> int:
    """The smallest multiple of `multiple` up to `side` the generator takes, found by running it
    (instance norm and reflection padding deep inside need more than one pixel there)."""
    error: Exception | None = None
    for smallest in range(multiple, side + 1, multiple):
        try:
            with torch.no_grad():
                generator(torch.zeros(1, channels, smallest, smallest))
            return smallest
        except (RuntimeError, ValueError, IndexError) as failure:
            error = failure
    raise ValueError(f"{type(generator).__name__} cannot take {side}x{side} images (--example_size): {error}")


def _check(path: Path, format: str, generator: nn.Module, shape: tuple[int, ...], atol: float) -> float:
    """Run the exported file and the PyTorch generator on random images of `shape`; the largest
    absolute difference, with an error above `atol`."""
    images = _random_images(*shape, seed=1)
    with torch.no_grad():
        expected = generator(images)
        if format == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            actual = torch.from_numpy(session.run([ONNX_OUTPUT], {ONNX_INPUT: images.numpy()})[0])
        else:
            actual = torch.export.load(path).module()(images)
    if actual.shape != expected.shape:
        raise RuntimeError(
            f"the exported {format} model returns shape {tuple(actual.shape)} for a {tuple(shape)} batch, "
            f"PyTorch {tuple(expected.shape)}; nothing written"
        )
    difference = (actual - expected).abs().max().item()
    if not difference <= atol:  # also catches NaN
        raise RuntimeError(
            f"the exported {format} model differs from PyTorch by up to {difference:.3g} (> atol {atol}) "
            f"on a {tuple(shape)} batch; nothing written"
        )
    return difference


def _first_line(error: BaseException) -> str:
    # torch.export's first line names the dimensions at fault; the rest is advice on its API.
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _random_images(*shape: int, seed: int) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _fsync(path: Path) -> None:
    # The exporters write by path; flush the file to disk before it is renamed into place.
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _require_onnx_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"format onnx needs {', '.join(missing)}: pip install 'i2i-zoo[export]'")


def _condition(text: str) -> tuple[str, Any]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. direction=BtoA, got {text!r}")
    return key, yaml.safe_load(value)


def main(argv: list[str]) -> None:
    """`i2i-zoo export --ckpt PATH (or --ckpt_path PATH) [--format onnx|pt2] [--output PATH] [--condition KEY=VALUE]...`"""
    parser = argparse.ArgumentParser(
        prog="i2i-zoo export",
        description="Export a trained generator (eval mode, float32) as ONNX or a torch.export .pt2 "
        "program with a dynamic batch and dynamic sides, checked against PyTorch.",
    )
    parser.add_argument(
        "--ckpt", "--ckpt_path", dest="ckpt", required=True, type=Path,
        help="Lightning checkpoint of a method (--ckpt_path, as in predict, is the same option)",
    )
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or pt2 (torch.export)")
    parser.add_argument("--output", type=Path, help="file to write (default: the checkpoint's path with .onnx or .pt2)")
    parser.add_argument(
        "--condition", type=_condition, action="append", default=[], metavar="KEY=VALUE",
        help="argument of the method's export_generator, value parsed as YAML; repeatable "
        "(e.g. --condition direction=BtoA for CycleGAN's F)",
    )
    parser.add_argument(
        "--model_class", "--model-class", help="method class for a checkpoint without _class_path, e.g. Pix2Pix or my_package.MyMethod"
    )
    parser.add_argument(
        "--example_size", "--example-size", type=int,
        help="side of the traced images, a multiple of the generator's size multiple; the fixed "
        "size if sides cannot be dynamic",
    )
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="largest difference to PyTorch accepted")
    args = parser.parse_args(argv)
    export_generator_file(
        args.ckpt,
        args.output or args.ckpt.with_suffix(f".{args.format}"),
        args.format,
        example_size=args.example_size,
        model_class=args.model_class,
        atol=args.atol,
        **dict(args.condition),
    )
