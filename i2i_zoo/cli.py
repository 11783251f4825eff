"""The `i2i-zoo` command: LightningCLI (fit, validate, test, predict) plus tool subcommands that
are not Trainer methods, dispatched before it."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Callable, Optional, Union

import yaml

from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningCLI

import i2i_zoo.callbacks  # noqa: F401  (registers SampleGrid, PredictionWriter for short names)
import i2i_zoo.data  # noqa: F401  (registers the datamodules for short names such as --data PairedDataModule)
import i2i_zoo.metrics  # noqa: F401  (registers ImageQualityMetrics)
from i2i_zoo.callbacks import PredictionWriter, read_checkpoint
from i2i_zoo.methods import METHODS, I2IMethod  # importing the registry gives the methods short names (--model Pix2Pix)

# Settings that follow from the data, set on the datamodule and copied to the model:
# (datamodule argument, model argument), applied where both classes take them.
LINKED_ARGUMENTS = (
    ("channels_A", "channels_A"),
    ("channels_B", "channels_B"),
    ("crop_size", "image_size"),
    ("channels", "channels"),
    ("scale", "scale"),
    ("image_size", "image_size"),
    ("domains", "domains"),
)


class I2IZooCLI(LightningCLI):
    def __init__(self, *args, **kwargs) -> None:
        self._argv = list(kwargs.get("args") or [])
        super().__init__(*args, **kwargs)

    def _parse_ckpt_path(self) -> None:
        # Lightning replaces the model's configuration by the checkpoint's hyperparameters; the
        # inference options given on the command line (I2IMethod.inference_options) still apply.
        subcommand = self.config.get("subcommand")
        model = self.config[subcommand].get("model") if subcommand else None
        given = {}
        if isinstance(model, Namespace) and isinstance(model.get("init_args"), Namespace):
            given = {
                name: model.init_args[name]
                for name in _command_line_model_options(self._argv)
                if name in _inference_options(model.class_path) and name in model.init_args
            }
        super()._parse_ckpt_path()
        for name, value in given.items():
            self.config[subcommand].model.init_args[name] = value

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs):
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":
            add_predict_arguments(parser)
        return parser

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--base",
            type=Optional[Union[str, list[str]]],
            default=None,
            help="Recipe(s) this recipe extends, relative to it; applied first (expanded by i2i-zoo).",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        # predict translates whatever folder it is given: the data's crop settings do not apply.
        if self.subcommand != "predict":
            link_data_to_model(config)
        else:
            prepare_predict(config)
            self.save_config_callback = None  # predict writes images, not a config.yaml


def expand_recipe_bases(argv: list[str]) -> list[str]:
    """Put each recipe's `base:` recipes (recursively, relative to the recipe's folder) before it
    as `-c` arguments, so a dataset recipe only states what differs from its base."""
    expanded: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("-c", "--config"):
            expanded += [f"--config={path}" for path in _recipe_chain(Path(next(arguments, "")))]
        elif argument.startswith("--config="):
            expanded += [f"--config={path}" for path in _recipe_chain(Path(argument.split("=", 1)[1]))]
        else:
            expanded.append(argument)
    return expanded


def _recipe_chain(recipe: Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    if not recipe.is_file():
        return [recipe]  # LightningCLI reports the missing file
    if recipe.resolve() in seen:
        raise ValueError(f"recipe {recipe} extends itself through {' -> '.join(map(str, seen))}")
    bases = (yaml.safe_load(recipe.read_text()) or {}).get("base") or []
    chain: list[Path] = []
    for base in [bases] if isinstance(bases, str) else bases:
        chain += _recipe_chain(recipe.parent / base, seen + (recipe.resolve(),))
    return chain + [recipe]


def link_data_to_model(config: Namespace) -> None:
    """Copy the linked data settings into the model's init args. A model value that the user set
    to something else than both the data's and the model's default is a conflict."""
    data, model = config.get("data"), config.get("model")
    if not isinstance(data, Namespace) or not isinstance(model, Namespace):
        return
    model_defaults = _init_defaults(model.class_path)
    for source, target in LINKED_ARGUMENTS:
        if source not in data.init_args or target not in model.init_args:
            continue
        value, current = data.init_args[source], model.init_args[target]
        if current not in (value, model_defaults.get(target)):
            raise ValueError(
                f"model.{target}={current} conflicts with data.{source}={value}: model.{target} "
                f"follows the data, set data.{source} instead"
            )
        model.init_args[target] = value


def add_predict_arguments(parser) -> None:
    """predict's own options: where its PredictionWriter writes. Lightning does not hand them to
    Trainer.predict; `prepare_predict` does to the writer."""
    parser.add_argument(
        "--output_dir", type=Optional[str], default=None,
        help="Folder for the translated images (default: predictions/<checkpoint stem>); it must not hold the inputs.",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="Write into an --output_dir that is not empty, replacing the files of the same names.",
    )
    # The images go to files: keeping every translation in memory too would only grow with the folder.
    parser.set_defaults(return_predictions=False)


def prepare_predict(config: Namespace) -> None:
    """predict translates with trained weights only, writes through a PredictionWriter (added when
    trainer.callbacks has no prediction writer; --output_dir and --overwrite set it) and logs
    nothing (no logger folder)."""
    if not config.get("ckpt_path"):
        raise ValueError(
            "predict needs --ckpt_path: a checkpoint written by `i2i-zoo fit` (e.g. runs/<name>/version_0/checkpoints/"
            "last.ckpt) or by `i2i-zoo convert` (the weights of an original release); without one the weights are untrained"
        )
    trainer = config.trainer
    trainer.logger = False
    callbacks = trainer.get("callbacks") or []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    writers = [c for c in callbacks if issubclass(_class(c.class_path), BasePredictionWriter)]
    options = {"output_dir": config.output_dir} if config.output_dir is not None else {}
    options.update({"overwrite": True} if config.overwrite else {})
    if not writers:
        writers = [Namespace(class_path=f"{PredictionWriter.__module__}.PredictionWriter", init_args=Namespace())]
        trainer.callbacks = [*callbacks, *writers]
    for writer in writers:
        if options and not issubclass(_class(writer.class_path), PredictionWriter):
            raise ValueError(
                f"--output_dir and --overwrite set PredictionWriter's options; {writer.class_path} in trainer.callbacks has its own"
            )
        for name, value in options.items():
            writer.init_args[name] = value


def _command_line_model_options(argv: list[str]) -> set[str]:
    """The model arguments named on the command line (`--model.init_args.X` or `--model.X`)."""
    names = set()
    for argument in argv:
        key = argument.split("=", 1)[0]
        if key.startswith("--model."):
            names.add(key.removeprefix("--model.").removeprefix("init_args."))
    return names


def _class(class_path: str) -> type:
    module_name, _, class_name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def _inference_options(class_path: str) -> tuple[str, ...]:
    return getattr(_class(class_path), "inference_options", ())


def _init_defaults(class_path: str) -> dict[str, object]:
    cls = _class(class_path)
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def demo_command(argv: list[str]) -> None:
    """`i2i-zoo demo NAME [--layout LAYOUT]`: generate a demo dataset and print its folder (the
    layout defaults to the dataset's first: paired for the two-domain sets)."""
    import argparse

    from i2i_zoo.data import demo

    parser = argparse.ArgumentParser(prog="i2i-zoo demo", description=demo_command.__doc__)
    parser.add_argument("name", choices=demo.DEMO_DATASETS)
    parser.add_argument("--layout", choices=demo.LAYOUTS, default=None)
    args = parser.parse_args(argv)
    print(demo.ensure_demo(args.name, args.layout or demo.DATASET_LAYOUTS[args.name][0]))


def convert_command(argv: list[str]) -> None:
    from i2i_zoo.convert.command import main as convert_main

    convert_main(argv)


def export_command(argv: list[str]) -> None:
    from i2i_zoo.export import main as export_main

    export_main(argv)


# Subcommands that are not Trainer methods: name -> function taking the remaining arguments.
TOOL_COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "demo": demo_command,
    "convert": convert_command,
    "export": export_command,
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of `i2i-zoo`."""
    run(sys.argv[1:] if argv is None else argv)


def classes_from_checkpoint(argv: list[str]) -> list[str]:
    """For `validate`/`test`/`predict` with `--ckpt_path` and no recipe: the model's class (and the
    datamodule's, else PairedDataModule for predicting a folder) from the checkpoint, so a
    checkpoint alone is enough (`i2i-zoo predict --ckpt_path x.ckpt --data.predict_dir imgs/`)."""
    if not argv or argv[0] not in ("validate", "test", "predict"):
        return argv
    given = {a.split("=", 1)[0] for a in argv}
    path = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--ckpt_path"), None)
    path = path or next((a.split("=", 1)[1] for a in argv if a.startswith("--ckpt_path=")), None)
    if path is None or given & {"-c", "--config", "--model"}:
        return argv
    checkpoint = read_checkpoint(path)
    model_class = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if model_class is None:
        raise ValueError(
            f"--ckpt_path {path} does not name its method (no _class_path: it was not written by `i2i-zoo fit`); "
            f"pass --model with one of {', '.join(METHODS)}, or a recipe with -c"
        )
    data_class = checkpoint.get("datamodule_hyper_parameters", {}).get("_class_path", "i2i_zoo.data.PairedDataModule")
    injected = [f"--model={model_class}"] + ([] if "--data" in given else [f"--data={data_class}"])
    return [argv[0], *injected, *argv[1:]]


def run(argv: list[str]) -> LightningCLI | None:
    """Run one command; returns the LightningCLI (its trainer, model, datamodule) for Trainer commands."""
    if argv and argv[0] in TOOL_COMMANDS:
        TOOL_COMMANDS[argv[0]](argv[1:])
        return None
    argv = classes_from_checkpoint(argv)
    return I2IZooCLI(
        I2IMethod,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={"plugins": {"class_path": "i2i_zoo.callbacks.AtomicCheckpointIO"}},
        auto_configure_optimizers=False,
        args=expand_recipe_bases(argv),
    )


if __name__ == "__main__":
    main()
