"""The `i2i-zoo` command: LightningCLI (fit, validate, test, predict) plus tool subcommands that
are not Trainer methods (demo, convert, export, class-accuracy, score, serve, translate), dispatched before it."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional, Union

import yaml

from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

import i2i_zoo.callbacks  # noqa: F401  (registers SampleGrid, PredictionWriter for short names)
import i2i_zoo.data  # registers the datamodules for short names such as --data PairedDataModule
import i2i_zoo.metrics  # noqa: F401  (registers ImageQualityMetrics)
from i2i_zoo.callbacks import PredictionWriter, read_checkpoint
from i2i_zoo.data import PairedDataModule
from i2i_zoo.methods import METHODS, I2IMethod, own_class, stored_method_class  # importing the registry gives the methods short names (--model Pix2Pix)

# Files a run writes into its log folder as it starts (LightningCLI's config, the logger's
# hyperparameters), besides TensorBoard's event files.
STARTUP_FILES = ("config.yaml", "hparams.yaml")

# --ckpt_path values that Lightning resolves itself (the registry's start with "registry").
LIGHTNING_CKPT_NAMES = ("last", "best", "hpc")

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


class SaveResolvedConfig(SaveConfigCallback):
    """Saves the run's config.yaml without `base:`: the recipes it names are already merged into
    the configuration, and their paths are relative to the recipe, not to the run folder, so
    `i2i-zoo fit -c runs/<name>/version_N/config.yaml` reproduces the run."""

    def __init__(self, parser, config: Namespace, **kwargs) -> None:
        config = config.clone()
        config.pop("base", None)
        super().__init__(parser, config, **kwargs)


class I2IZooCLI(LightningCLI):
    def __init__(self, *args, **kwargs) -> None:
        self._argv = list(kwargs.get("args") or [])
        super().__init__(*args, **kwargs)

    def _parse_ckpt_path(self) -> None:
        """The model's configuration from `--ckpt_path` (read by the project's own reader, a URL
        included), as Lightning does, after checking that the checkpoint holds the recipe's method
        and that no model option named on the command line differs from the checkpoint's (recipe
        values yield to it silently). In validate/test/predict, the method's inference_options
        given on the command line apply over the checkpoint's."""
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else None
        ckpt_path = config.get("ckpt_path") if config else None
        if not ckpt_path or str(ckpt_path) in LIGHTNING_CKPT_NAMES or str(ckpt_path).startswith("registry"):
            return
        hparams = dict(read_checkpoint(ckpt_path).get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        if not hparams:
            return
        model = config.get("model")
        stored_class = hparams.pop("_class_path", None)
        if stored_class is not None:
            _check_same_method(ckpt_path, stored_class, model.class_path if isinstance(model, Namespace) else None)
        given = {}
        if isinstance(model, Namespace) and isinstance(model.get("init_args"), Namespace):
            given = {name: model.init_args[name] for name in _command_line_model_options(self._argv) if name in model.init_args}
        # A checkpoint that does not name its class takes the one given (--model, translate's --model_class).
        class_path = stored_class or (model.get("class_path") if isinstance(model, Namespace) else None)
        if class_path:
            hparams = getattr(_class(class_path), "stored_hparams", dict)(hparams)
        stored = {"class_path": class_path, "dict_kwargs": dict(hparams)} if class_path else dict(hparams)
        try:
            self.config = self.parser.parse_object({subcommand: {"model": stored}}, self.config)
        except SystemExit:
            sys.stderr.write(f"Parsing of the hyperparameters of --ckpt_path {ckpt_path} failed!\n")
            raise
        inference = _inference_options(class_path) if subcommand != "fit" and class_path else ()
        for name, value in given.items():
            if name in inference or name not in hparams:
                self.config[subcommand].model.init_args[name] = value
            elif not _same_value(hparams[name], value):
                raise ValueError(
                    f"--model.init_args.{name}={value!r} differs from the checkpoint's {name}={hparams[name]!r} "
                    f"(--ckpt_path {ckpt_path}): {subcommand} with a checkpoint keeps the settings it was trained "
                    f"with. Drop the option, or train a new model without --ckpt_path"
                )

    def parse_arguments(self, parser, args) -> None:
        # `run` always passes the arguments, rewritten (recipe bases, a checkpoint's classes): Lightning's
        # warning about args given beside sys.argv's own would come with every `i2i-zoo` call.
        self.config = parser.parse_object(args) if isinstance(args, (dict, Namespace)) else parser.parse_args(args)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            _remove_unused_log_dir(self.trainer)
            raise

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


def _remove_unused_log_dir(trainer) -> None:
    """After a failed run that never stepped an optimizer: remove the logger's version folder if
    it holds only what every run writes as it starts (config, hyperparameters, event files), so
    failed attempts leave no empty version_N folders. Rank 0 only (not trainer.log_dir: it
    broadcasts, and the other ranks may be gone)."""
    logger = trainer.logger
    if logger is None or not trainer.is_global_zero or trainer.global_step > 0 or not logger.log_dir:
        return
    folder = Path(logger.log_dir)
    if not folder.is_dir():
        return
    entries = list(folder.rglob("*"))
    if all(e.is_file() and (e.name in STARTUP_FILES or e.name.startswith("events.out.tfevents")) for e in entries):
        shutil.rmtree(folder)
        if not any(folder.parent.iterdir()):
            folder.parent.rmdir()  # the logger's name folder, which this run created


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


def _same_value(stored: object, given: object) -> bool:
    """Whether a checkpoint's option value equals the command line's (YAML lists vs tuples)."""
    normalise = lambda v: list(map(normalise, v)) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return normalise(stored) == normalise(given)


def _check_same_method(ckpt_path: str, stored_class: str, given_class: str | None) -> None:
    """The checkpoint's method must be a registered one, and the one the recipe or command line names."""
    stored = stored_method_class(stored_class, f"--ckpt_path {ckpt_path}")
    if given_class is not None and _class(given_class) is not stored:
        raise ValueError(
            f"--ckpt_path {ckpt_path} holds a {stored.__name__} model, but the recipe or --model gives "
            f"{given_class.rpartition('.')[2]}: use the {stored.__name__} recipe, or no recipe (the checkpoint "
            "names its method and datamodule)"
        )


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


def class_accuracy_command(argv: list[str]) -> None:
    from i2i_zoo.metrics.class_accuracy import main as class_accuracy_main

    class_accuracy_main(argv)


def serve_command(argv: list[str]) -> None:
    from i2i_zoo.serve import main as serve_main

    serve_main(argv)


def score_command(argv: list[str]) -> None:
    from i2i_zoo.metrics.score import main as score_main

    score_main(argv)


def translate_command(argv: list[str]) -> None:
    """`i2i-zoo translate CKPT INPUT OUTPUT`: predict's short form. It runs `i2i-zoo predict
    --ckpt_path CKPT --data.predict_dir INPUT --output_dir OUTPUT` (printed first), so the outputs
    follow predict's rules: one per readable image, never over an input, --overwrite to write into
    a folder that is not empty."""
    parser = argparse.ArgumentParser(
        prog="i2i-zoo translate",
        usage="i2i-zoo translate CKPT INPUT OUTPUT [--model_class NAME] [--overwrite] [predict options]",
        allow_abbrev=False,  # --m=... or --over... are predict's options, passed on
        description="Translate every image in a folder with a checkpoint: the short form of `i2i-zoo predict "
        "--ckpt_path CKPT --data.predict_dir INPUT --output_dir OUTPUT`.",
        epilog="Other options, after CKPT INPUT OUTPUT, go to predict as they are, e.g. --trainer.accelerator=cpu --data.num_workers=0 "
        "--model.init_args.direction=BtoA (see `i2i-zoo predict --ckpt_path CKPT --help`).",
    )
    parser.add_argument("ckpt", metavar="CKPT", help="a checkpoint written by `i2i-zoo fit` or `i2i-zoo convert`")
    parser.add_argument("input", metavar="INPUT", help="the folder of images to translate (sub-folders included)")
    parser.add_argument("output", metavar="OUTPUT", help="the folder for the translations, outside INPUT")
    parser.add_argument(
        "--model_class", "--model-class", metavar="NAME",
        help=f"the method of a checkpoint that does not name it, one of {', '.join(METHODS)}",
    )
    parser.add_argument("--overwrite", action="store_true", help="write into an OUTPUT that is not empty, replacing files of the same names")
    args, predict_options = parser.parse_known_args(argv)
    if not Path(args.input).expanduser().is_dir():
        raise FileNotFoundError(f"INPUT {args.input} is not a folder: translate reads a folder of images")
    classes = []
    if args.model_class:
        # classes_from_checkpoint leaves a given --model alone: the datamodule comes from here.
        source = f"--ckpt_path {args.ckpt}"
        given = {option.split("=", 1)[0] for option in predict_options}
        classes = [f"--model={args.model_class}"]
        classes += [] if "--data" in given else [f"--data={_path_of(checkpoint_datamodule(read_checkpoint(args.ckpt), source))}"]
    predict_argv = [
        "predict", *classes, "--ckpt_path", args.ckpt, "--data.predict_dir", args.input, "--output_dir", args.output,
        *(["--overwrite"] if args.overwrite else []), *predict_options,
    ]
    print(f"i2i-zoo translate: i2i-zoo {shlex.join(predict_argv)}", file=sys.stderr)
    run(predict_argv)


# The Trainer subcommands LightningCLI runs, with their line in `i2i-zoo --help`.
TRAINER_COMMANDS = {
    "fit": "train a method: a recipe (-c recipes/<method>/<dataset>.yaml) or --model and --data",
    "validate": "the validation metrics of a checkpoint (--ckpt_path)",
    "test": "the test metrics of a checkpoint (--ckpt_path)",
    "predict": "translate a folder with a checkpoint (--ckpt_path, --data.predict_dir, --output_dir)",
}

# Subcommands that are not Trainer methods: name -> (function taking the remaining arguments, its
# line in `i2i-zoo --help`).
TOOL_COMMANDS: dict[str, tuple[Callable[[list[str]], None], str]] = {
    "translate": (translate_command, "translate a folder with a checkpoint: i2i-zoo translate CKPT INPUT OUTPUT"),
    "demo": (demo_command, "generate a built-in demo dataset and print its folder"),
    "convert": (convert_command, "an original implementation's weights -> an i2i-zoo checkpoint, and back"),
    "export": (export_command, "a checkpoint's generator -> ONNX or a torch.export .pt2 program"),
    "class-accuracy": (class_accuracy_command, "RC and FC class accuracies of translations into classes"),
    "score": (score_command, "FID, KID, PSNR, SSIM between two folders of images: i2i-zoo score --real DIR --fake DIR"),
    "serve": (serve_command, "a local web page that translates uploaded images: i2i-zoo serve --ckpt_path CKPT"),
}


def overview() -> str:
    """`i2i-zoo --help`: every subcommand with its line (LightningCLI's own help lists only its four)."""
    lines = [*TRAINER_COMMANDS.items(), *((name, summary) for name, (_, summary) in TOOL_COMMANDS.items())]
    width = max(len(name) for name, _ in lines)
    commands = "\n".join(f"  {name:<{width}}  {summary}" for name, summary in lines)
    return (
        f"usage: i2i-zoo [-h] [--version] COMMAND ...\n\nImage-to-image translation models (i2i-zoo {package_version()}).\n\n"
        f"commands:\n{commands}\n\n`i2i-zoo COMMAND --help` gives a command's options.\n"
    )


def package_version() -> str:
    try:
        return importlib.metadata.version("i2i-zoo")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return i2i_zoo.__version__


def main(argv: list[str] | None = None) -> None:
    """Entry point of `i2i-zoo`."""
    run(sys.argv[1:] if argv is None else argv)


def check_class_names(argv: list[str]) -> None:
    """A `--model NAME` or `--data NAME` that names no registered method or datamodule: an error
    listing them (jsonargparse's own says only that the name is no import path). Dotted import
    paths and config files are left to jsonargparse."""
    known = {"--model": list(METHODS), "--data": datamodule_names()}
    for index, arg in enumerate(argv):
        option, separator, value = arg.partition("=")
        if option not in known:
            continue
        value = value if separator else (argv[index + 1] if index + 1 < len(argv) else "")
        if value.isidentifier() and value not in known[option]:
            what = "method" if option == "--model" else "datamodule"
            raise ValueError(f"{option} {value} is no {what} of the zoo; choose one of {', '.join(known[option])} (or give a dotted import path)")


def datamodule_names() -> list[str]:
    """The datamodules `--data` knows by their short names."""
    return sorted(name for name, value in vars(i2i_zoo.data).items()
                  if inspect.isclass(value) and issubclass(value, LightningDataModule) and not name.startswith("_"))  # fmt: skip


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
    method = stored_method_class(model_class, f"--ckpt_path {path}")
    datamodule = checkpoint_datamodule(checkpoint, f"--ckpt_path {path}")
    print(f"i2i-zoo: --ckpt_path {path} holds a {method.__name__} model ({datamodule.__name__})", file=sys.stderr)
    injected = [f"--model={_path_of(method)}"] + ([] if "--data" in given else [f"--data={_path_of(datamodule)}"])
    return [argv[0], *injected, *argv[1:]]


def checkpoint_datamodule(checkpoint: dict, source: str) -> type[LightningDataModule]:
    """The datamodule a checkpoint was trained with, else PairedDataModule (which predicts a folder)."""
    data_class = checkpoint.get("datamodule_hyper_parameters", {}).get("_class_path")
    return PairedDataModule if data_class is None else registered_datamodule(data_class, source)


def registered_datamodule(class_path: str, source: str) -> type[LightningDataModule]:
    """The i2i-zoo datamodule a checkpoint names (only i2i-zoo's own modules are looked in)."""
    datamodules = [cls for cls in vars(i2i_zoo.data).values() if isinstance(cls, type) and issubclass(cls, LightningDataModule)]
    datamodule = own_class(class_path, datamodules)
    if datamodule is None:
        raise ValueError(
            f"{source} names the datamodule class {class_path!r}, which is not one of i2i-zoo's "
            f"({', '.join(sorted(cls.__name__ for cls in datamodules))}); pass --data"
        )
    return datamodule


def _path_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def run(argv: list[str]) -> LightningCLI | None:
    """Run one command; returns the LightningCLI (its trainer, model, datamodule) for Trainer commands."""
    if not argv or argv[0] in ("-h", "--help"):
        print(overview(), end="")
        return None
    if argv[0] == "--version":
        print(f"i2i-zoo {package_version()}")
        return None
    if argv[0] in TOOL_COMMANDS:
        TOOL_COMMANDS[argv[0]][0](argv[1:])
        return None
    check_class_names(argv)
    argv = classes_from_checkpoint(argv)
    return I2IZooCLI(
        I2IMethod,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={"plugins": {"class_path": "i2i_zoo.callbacks.AtomicCheckpointIO"}},
        auto_configure_optimizers=False,
        save_config_callback=SaveResolvedConfig,
        args=expand_recipe_bases(argv),
    )


if __name__ == "__main__":
    main()
