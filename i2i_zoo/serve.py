"""`i2i-zoo serve`: a local web page that translates an uploaded image with a checkpoint.

The page is Gradio's (the optional `app` extra), imported only by `build_app`; everything else
here (what a method offers, reading the upload, translating) is plain Python, and tested as such.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from i2i_zoo.data.base import _resize_to
from i2i_zoo.data.io import ImageReadError, read_image, to_tensor, write_image
from i2i_zoo.export import load_method
from i2i_zoo.methods import (
    SPL, AsymGAN, CycleGAN, GANimation, I2IMethod, Pix2Pix, SPLReferenceTransfer, SPLSuperResolution, StarGAN,
)
from i2i_zoo.methods.base import translate_any_size

log = logging.getLogger(__name__)

SUPPORTED = (Pix2Pix, CycleGAN, StarGAN, GANimation, SPL, SPLSuperResolution, SPLReferenceTransfer, AsymGAN)
INSTALL_HINT = "i2i-zoo serve needs Gradio: pip install 'i2i-zoo[app]'"
# Small images (the zoo's models work at 32-256 px) fill their boxes, with their pixels visible.
CSS = "#input-image img, #output-image img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated}"


@dataclass(frozen=True)
class PageOptions:
    """What the page lets a user choose for one method (read off the model once)."""

    directions: tuple[str, ...] = ()  # CycleGAN, AsymGAN
    domains: tuple[str, ...] = ()  # StarGAN's target domain (exclusive) or attributes
    attributes: bool = False
    conditions: tuple[str, ...] = ()  # GANimation's action units, one slider each
    condition_defaults: tuple[float, ...] = ()
    reference: str = ""  # "required" (SPLReferenceTransfer) or "optional" (AsymGAN's YtoX)
    samples: bool = False  # AsymGAN's YtoX: several z, drawn from a seed


def page_options(model: I2IMethod) -> PageOptions:
    """The choices `model`'s translate takes; a method the page cannot drive is refused here, at start."""
    if not isinstance(model, SUPPORTED):
        raise ValueError(
            f"i2i-zoo serve cannot show a {type(model).__name__} model: it serves "
            f"{', '.join(cls.__name__ for cls in SUPPORTED)}. Use `i2i-zoo predict --ckpt_path CKPT` for it"
        )
    if isinstance(model, StarGAN):
        return PageOptions(domains=tuple(model.domains), attributes=model.label_type == "attributes")
    if isinstance(model, GANimation):
        defaults = model.predict_target if model.predict_target is not None else [0.0] * len(model.domains)
        if isinstance(defaults, dict):
            defaults = [defaults.get(name, 0.0) for name in model.domains]
        return PageOptions(conditions=tuple(model.domains), condition_defaults=tuple(float(v) for v in defaults))
    if isinstance(model, CycleGAN):
        return PageOptions(directions=("AtoB", "BtoA"))
    if isinstance(model, AsymGAN):
        return PageOptions(directions=("XtoY", "YtoX"), reference="optional", samples=True)
    if isinstance(model, SPLReferenceTransfer):
        return PageOptions(reference="required")
    return PageOptions()


class Translator:
    """One model, loaded once, translating one uploaded image per call. It keeps no per-request
    state: every choice comes in as an argument, so concurrent users never see each other's inputs."""

    def __init__(self, model: I2IMethod) -> None:
        self.model = model.eval()
        self.options = page_options(model)
        # Pix2Pix's train-mode dropout and unseeded z draws use torch's global RNG: one call at a time.
        self._lock = threading.Lock()

    def default_direction(self) -> str | None:
        return getattr(self.model, "direction", None) if self.options.directions else None

    def input_channels(self, direction: str | None) -> int:
        if isinstance(self.model, CycleGAN):
            return self.model.export_generator(direction).in_channels
        if isinstance(self.model, AsymGAN):
            return self.model.inference_net("G" if direction == "XtoY" else "F").in_channels
        return self.model.input_channels()

    def __call__(self, image_path: str, direction: str | None = None, target: str | list[str] | None = None,
                 conditions: list[float] | None = None, reference_path: str | None = None, n_samples: int = 1,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The uploaded image as the model reads it and its translation, float HWC in [0, 1]
        (AsymGAN's samples side by side). Raises ImageReadError or ValueError with a user's message."""
        options = self.options
        direction = direction or self.default_direction()
        # The package's reader: 8/16-bit and float files to [0, 1], gray <-> RGB without loss.
        image = read_image(image_path, self.input_channels(direction))
        arguments: dict[str, Any] = {}
        if options.directions:
            arguments["direction"] = direction
        if options.domains:
            if target is None or (options.attributes and not isinstance(target, list)):
                raise ValueError("choose a target domain" if not options.attributes else "choose the target attributes")
            arguments["target"] = target
        if options.conditions:
            arguments["target"] = dict(zip(options.conditions, map(float, conditions or options.condition_defaults)))
        reference = None
        if options.reference and reference_path and direction != "XtoY":
            reference = read_image(reference_path, self.model.input_channels() if options.reference == "required" else self.input_channels("XtoY"))
        elif options.reference == "required":
            raise ValueError("this model transfers the style of a reference image: upload one")
        if options.samples and direction == "YtoX" and reference is None:
            arguments.update(n_samples=int(n_samples), seed=int(seed))

        def translate(x: torch.Tensor) -> torch.Tensor:
            if reference is not None:  # resized to the (padded) input, as predict resizes data.predict_reference
                arguments["reference"] = to_tensor(_resize_to(reference, *x.shape[-2:]))[None]
            return self.model.translate(x, **arguments)

        with self._lock, torch.no_grad():
            output = translate_any_size(translate, to_tensor(image)[None], self.model.size_multiple)[0]
        if output.dim() == 4:  # k samples (k, C, H, W) side by side
            output = torch.cat(list(output), dim=-1)
        return image, ((output.float() + 1) / 2).clamp(0, 1).permute(1, 2, 0).numpy()


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float HWC image in [0, 1] as the page shows it: 8-bit, gray as HW (rounded as write_image)."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def theme():
    """Gradio's base theme with system fonts: its default one asks for web fonts."""
    import gradio as gr

    return gr.themes.Base(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(translator: Translator, title: str, output_root: str | os.PathLike):
    """The page: upload (or drop) an image, choose what the method offers, see input and output
    side by side, download the output. Errors are shown on the page, never as a stack trace."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before the import: Gradio reads it there too
    try:
        import gradio as gr
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    options = translator.options
    controls: list[Any] = []
    with gr.Blocks(title=f"i2i-zoo: {title}", analytics_enabled=False) as app:
        gr.Markdown(f"## i2i-zoo: {title}")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image (drop or click; any size, gray or colour)", file_types=["image"],
                                 type="filepath", elem_id="upload")  # fmt: skip
                direction = gr.Radio(list(options.directions), value=translator.default_direction(), label="Direction",
                                     visible=bool(options.directions), elem_id="direction")  # fmt: skip
                if options.attributes:
                    target = gr.CheckboxGroup(list(options.domains), label="Target attributes", elem_id="target")
                else:
                    target = gr.Dropdown(list(options.domains), value=None, label="Target domain",
                                         visible=bool(options.domains), elem_id="target")  # fmt: skip
                sliders = [
                    gr.Slider(0.0, 1.0, value=default, step=0.05, label=f"{name} intensity")
                    for name, default in zip(options.conditions, options.condition_defaults)
                ]
                reference = gr.File(label=f"Reference image ({options.reference})", file_types=["image"], type="filepath",
                                    visible=bool(options.reference), elem_id="reference")  # fmt: skip
                n_samples = gr.Slider(1, 8, value=1, step=1, label="Samples (YtoX without a reference)",
                                      visible=options.samples, elem_id="samples")  # fmt: skip
                seed = gr.Number(0, precision=0, label="Seed", visible=options.samples, elem_id="seed")
                button = gr.Button("Translate", variant="primary", elem_id="translate")
        with gr.Row():
            shown_input = gr.Image(label="Input", type="numpy", format="png", interactive=False, height=320, elem_id="input-image")
            shown_output = gr.Image(label="Output", type="numpy", format="png", interactive=False, height=320, elem_id="output-image")
        download = gr.DownloadButton("Download the output", value=None, elem_id="download")
        status = gr.Markdown(elem_id="status")
        controls = [upload, direction, target, reference, n_samples, seed, *sliders]

        def run(image_path, direction_value, target_value, reference_path, samples, seed_value, *levels):
            if not image_path:
                return None, None, None, "**Error:** upload an image first"
            try:
                image, output = translator(image_path, direction_value, target_value, list(levels), reference_path,
                                           samples or 1, seed_value or 0)  # fmt: skip
            except (ImageReadError, ValueError) as error:  # the upload's name, not the server's folder
                message = str(error)
                for path in filter(None, (image_path, reference_path)):
                    message = message.replace(str(Path(path).parent) + os.sep, "")
                return None, None, None, f"**Error:** {message}"
            except Exception as error:  # noqa: BLE001  (the page shows a line; the log keeps the trace)
                log.exception("translation failed")
                return None, None, None, f"**Error:** the translation failed ({type(error).__name__}: {error})"
            path = Path(tempfile.mkdtemp(dir=output_root)) / f"{Path(image_path).stem}_translated.png"
            write_image(path, output)
            chosen = [f"{name} {value}" for name, value in (("direction", direction_value), ("target", target_value)) if value]
            done = f"Translated {image.shape[1]}x{image.shape[0]} px" + (f" ({', '.join(chosen)})." if chosen else ".")
            return to_uint8(image), to_uint8(output), str(path), done

        button.click(run, inputs=controls, outputs=[shown_input, shown_output, download, status])
    return app


def launch(app, host: str, port: int, output_root: str | os.PathLike, block: bool = True):
    """Serve `app` on host:port with nothing fetched from elsewhere (no share link, no analytics,
    no version check, system fonts); `block=False` returns once it listens (tests)."""
    app.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False, theme=theme(), css=CSS,
        allowed_paths=[str(output_root)], prevent_thread_lock=not block, quiet=not block,
    )
    return app


def main(argv: list[str]) -> None:
    """`i2i-zoo serve --ckpt_path CKPT [--host HOST] [--port PORT]`."""
    parser = argparse.ArgumentParser(
        prog="i2i-zoo serve",
        description="A local web page that translates uploaded images with a checkpoint "
        f"(needs the app extra: {INSTALL_HINT.split(': ')[1]}).",
    )
    parser.add_argument("--ckpt_path", "--ckpt-path", required=True, metavar="CKPT",
                        help="a checkpoint written by `i2i-zoo fit` or `i2i-zoo convert`")  # fmt: skip
    parser.add_argument("--model_class", "--model-class", metavar="NAME", help="the method of a checkpoint that does not name it")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860, help="the port to listen on")
    args = parser.parse_args(argv)
    # Model first: a wrong checkpoint or an unsupported method fails before the server starts.
    translator = Translator(load_method(args.ckpt_path, args.model_class))
    with tempfile.TemporaryDirectory(prefix="i2i-zoo-serve-") as output_root:
        app = build_app(translator, f"{type(translator.model).__name__} ({Path(args.ckpt_path).name})", output_root)
        launch(app, args.host, args.port, output_root)
