"""Mutual perceptual information of BiL-GAN (Cao et al., 2019, Eq. 6-8): an InfoNCE estimate of
the mutual information between the identity features phi of the inputs and of their
translations, which the generator maximises (its loss L_mp = -I) so that a translation keeps who
or what its input shows.

phi, the identity encoder, is frozen and never trained: `load_identity_encoder` builds one
(a parameter-free luma layout for the demo data, a timm backbone, or any module by class path)
and `MutualInformationLoss` holds it outside the method's modules, so it stays out of
checkpoints.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.weights import StateDict, read_state_dict, resolve_weights

IDENTITY_WEIGHTS_OPTION = "model.identity_weights"
IDENTITY_WEIGHTS_ENV = "I2I_ZOO_IDENTITY_WEIGHTS"
# Rec. 601, the luma the tints demo keeps (`i2i_zoo.data.demo.truth.LUMA`; not imported, as
# losses do not depend on the data package).
_LUMA = (0.299, 0.587, 0.114)

Encoder = Callable[[Tensor], Tensor]


def info_nce(features_a: Tensor, features_b: Tensor) -> Tensor:
    """The InfoNCE estimate of the mutual information between paired features ``(N, D)``:
    I = mean_i [f(a_i, b_i) - log((1 / N) sum_j exp f(a_i, b_j))], in float32.

    The critic is f(a, b) = -||a - b||_2, a similarity. The paper prints the distance itself,
    which, maximised, would push each translation's features away from its input's.
    """
    if features_a.dim() != 2 or features_a.shape != features_b.shape:
        raise ValueError(
            f"info_nce takes two feature batches of one shape (N, D), got {tuple(features_a.shape)} and {tuple(features_b.shape)}"
        )
    with torch.autocast(device_type=features_a.device.type, enabled=False):
        # The exact distances: the matrix-product shortcut loses precision near 0, where matches are.
        critic = -torch.cdist(features_a.float(), features_b.float(), compute_mode="donot_use_mm_for_euclid_dist")
        log_mean_exp = torch.logsumexp(critic, dim=1) - torch.log(torch.tensor(float(critic.shape[1])))
        return (critic.diagonal() - log_mean_exp).mean()


def mutual_information_loss(phi: Encoder, inputs: Tensor, outputs: Tensor) -> Tensor:
    """L_mp = -info_nce(phi(inputs), phi(outputs)) for images in [-1, 1] and their translations.

    The gradient reaches ``outputs`` (hence the generator) but never phi's parameters: the inputs'
    features are computed without a graph, and a module phi must be frozen (no parameter
    requiring grad) and in eval mode, as `load_identity_encoder` returns it.
    """
    if isinstance(phi, nn.Module):
        trainable = [name for name, parameter in phi.named_parameters() if parameter.requires_grad]
        if trainable or phi.training:
            problem = f"parameters requiring grad ({', '.join(trainable[:3])})" if trainable else "train mode"
            raise ValueError(
                f"the identity encoder must be frozen and in eval mode, but is in {problem}; use load_identity_encoder"
            )
    with torch.autocast(device_type=inputs.device.type, enabled=False):
        with torch.no_grad():
            features_inputs = phi(inputs.float())
        return -info_nce(features_inputs, phi(outputs.float()))


class MutualInformationLoss:
    """`mutual_information_loss` on a frozen identity encoder, for images in [-1, 1].

    Deliberately not an `nn.Module`: kept as an attribute of a LightningModule it is no submodule,
    so the encoder stays out of the method's `state_dict`, checkpoints, parameters and DDP. It
    therefore follows the device of the images it is given rather than the module's `.to()`.
    """

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self._device: torch.device | None = None

    def __call__(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """L_mp of the translations ``outputs`` of ``inputs``."""
        if isinstance(self.encoder, nn.Module) and inputs.device != self._device:
            self.encoder.to(inputs.device)
            self._device = inputs.device
        return mutual_information_loss(self.encoder, inputs, outputs)


class LumaThumbnail(nn.Module):
    """Identity features of the ``tints`` demo: the luma (Rec. 601) of images in [-1, 1] taken to
    [0, 1], area-downsampled to ``size`` x ``size``, centred and scaled to norm 1 per image,
    flattened: ``(N, size * size)``. No parameters.

    A tint keeps each pixel's luma, so an image's identity there is its layout of light and dark,
    which this keeps, not its colour, which a translation is meant to change. Centring and
    normalising ignore a change of overall brightness or contrast.
    """

    def __init__(self, size: int = 8, eps: float = 1e-6):
        super().__init__()
        self.size = size
        self.eps = eps
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        unit = (images.float() + 1) / 2
        if unit.shape[1] == 3:
            unit = (unit * self.luma).sum(1, keepdim=True)
        elif unit.shape[1] != 1:
            raise ValueError(f"the luma thumbnail takes RGB or gray images, got {unit.shape[1]} channels")
        thumbnail = F.adaptive_avg_pool2d(unit, self.size).flatten(1)
        centred = thumbnail - thumbnail.mean(1, keepdim=True)
        return centred / (centred.norm(dim=1, keepdim=True) + self.eps)


class TimmFeatures(nn.Module):
    """A timm backbone's pooled features (``num_classes=0``) of images in [-1, 1], resized to
    ``image_size`` and normalised with the backbone's pretrained mean and std. Its state dict
    keys are the backbone's, under ``backbone.``."""

    def __init__(self, backbone: nn.Module, image_size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.backbone = backbone
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        unit = (images + 1) / 2
        if tuple(unit.shape[-2:]) != self.image_size:
            unit = F.interpolate(unit, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        return self.backbone((unit - self.mean) / self.std)


def load_identity_encoder(kind: str, weights: str | os.PathLike | None = None, image_size: int | None = None) -> nn.Module:
    """The frozen identity encoder phi (eval mode, no parameter requiring grad): images in [-1, 1]
    -> features ``(N, D)``.

    Kinds:
      - ``luma_thumbnail``: `LumaThumbnail`, for the ``tints`` demo; no weights.
      - ``timm:<model_name>`` (e.g. ``timm:resnet50``): the backbone's pooled features
        (`TimmFeatures`), standing in for the paper's second-to-last FC layer of a face
        recogniser. Weights are required: a state dict (``.pth``/``.bin`` read with
        ``weights_only=True``, or ``.safetensors``) from ``weights`` (the
        ``model.identity_weights`` option) or ``$I2I_ZOO_IDENTITY_WEIGHTS``; the classifier's
        keys are ignored. Inputs are resized to ``image_size`` (default: the backbone's
        pretrained input size).
      - ``package.module.Class``: an importable nn.Module taking images in [-1, 1] and returning
        ``(N, D)``, built without arguments, with ``weights`` (or the variable's file) loaded
        strictly if given.

    Raises FileNotFoundError when required or given weights are missing (never random weights),
    ValueError for an unknown kind or weights that do not fit, ImportError when timm is absent.
    """
    if kind != "luma_thumbnail" and not kind.startswith("timm:") and "." not in kind:
        raise ValueError(
            f"unknown identity encoder {kind!r}; choose luma_thumbnail, timm:<model name> (e.g. timm:resnet50) "
            "or the class path of an nn.Module (package.module.Class)"
        )
    if image_size is not None and not kind.startswith("timm:"):
        raise ValueError(f"image_size is an option of the timm identity encoders only, not of {kind!r}")
    if kind == "luma_thumbnail":
        if weights is not None:
            raise ValueError("the luma_thumbnail identity encoder has no weights; leave model.identity_weights unset")
        encoder = LumaThumbnail()
    elif kind.startswith("timm:"):
        encoder = _timm_encoder(kind.removeprefix("timm:"), weights, image_size)
    else:
        encoder = _class_path_encoder(kind, weights)
    return encoder.requires_grad_(False).eval()


def _timm_encoder(name: str, weights: str | os.PathLike | None, image_size: int | None) -> nn.Module:
    try:
        import timm
        from timm.data import resolve_data_config
    except ImportError:
        raise ImportError(f"the identity encoder timm:{name} needs timm: pip install timm") from None
    try:
        backbone = timm.create_model(name, pretrained=False, num_classes=0)
    except RuntimeError as error:
        raise ValueError(f"identity encoder timm:{name}: {error}") from None
    what = f"weights for timm's {name} (a state dict file: .pth, .bin or .safetensors)"
    hub_id = backbone.pretrained_cfg.get("hf_hub_id")
    hint = f"download them (e.g. model.safetensors of {hub_id} on the Hugging Face hub) to any folder" if hub_id else ""
    path = resolve_weights(weights, option=IDENTITY_WEIGHTS_OPTION, env=IDENTITY_WEIGHTS_ENV, candidates=[], what=what, hint=hint)
    _load_kept(backbone, _read_weights(path, what), path)
    config = resolve_data_config({}, model=backbone)
    size = (image_size, image_size) if image_size is not None else tuple(config["input_size"][1:])
    return TimmFeatures(backbone, size, config["mean"], config["std"])


def _class_path_encoder(class_path: str, weights: str | os.PathLike | None) -> nn.Module:
    module_name, _, class_name = class_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"identity encoder {class_path!r}: cannot import {module_name!r} ({error})") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"identity encoder {class_path!r}: {module_name} has no nn.Module class {class_name!r}")
    try:
        encoder = cls()
    except TypeError as error:
        raise ValueError(f"identity encoder {class_path!r} must be constructible without arguments: {error}") from None
    if weights is not None or os.environ.get(IDENTITY_WEIGHTS_ENV):
        what = f"weights for {class_path}"
        path = resolve_weights(weights, option=IDENTITY_WEIGHTS_OPTION, env=IDENTITY_WEIGHTS_ENV, candidates=[], what=what)
        try:
            encoder.load_state_dict(read_state_dict(path, what))
        except RuntimeError as error:
            raise ValueError(f"{path} does not fit {class_path}: {error}") from None
    return encoder


def _read_weights(path: Path, what: str) -> StateDict:
    # The Hugging Face hub serves timm weights as safetensors, a format that holds tensors only.
    if path.suffix != ".safetensors":
        return read_state_dict(path, what)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except SafetensorError as error:
        raise ValueError(f"{path} is not a readable safetensors file (expected {what}): {error}") from None


def _load_kept(backbone: nn.Module, state: StateDict, path: Path) -> None:
    # A pretrained file also holds the classifier, which num_classes=0 drops.
    kept = {key: state[key] for key in backbone.state_dict() if key in state}
    try:
        backbone.load_state_dict(kept, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold the backbone's weights: {error}") from None
