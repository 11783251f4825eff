"""Content and Gram style losses on the features of a frozen pretrained network (Gatys et al.,
2016; Johnson et al., 2016), as AsymGAN uses them (Li et al., TIP 2019): a content loss between
the features of a translation and of the image whose content it keeps, and a style loss between
the Gram matrices of the translation's features and of the image whose style it takes.

The features come from torchvision's VGG16/VGG19 `features` (layers named `relu1_2`, `relu4_3`,
... after the paper convention) or from any extractor returning a dict of named feature maps.
`PerceptualLoss` holds the extractor as a plain attribute, not a submodule, so a method that keeps
one never writes the VGG into its checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from i2i_zoo.weights import hub_checkpoints, read_state_dict, resolve_weights

VGG_WEIGHTS_ENV = "I2I_ZOO_VGG_WEIGHTS"

# torchvision's VGG configurations: output channels of each 3x3 conv, "M" a 2x2 max-pool.
_VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
_VGG_WEIGHTS = {
    "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
    "vgg19": torchvision.models.VGG19_Weights.IMAGENET1K_V1,
}
# The statistics torchvision's ImageNet VGGs were trained with, for RGB in [0, 1].
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

FeatureExtractor = Callable[[Tensor], Mapping[str, Tensor]]


def vgg_layer_names(architecture: str = "vgg16") -> list[str]:
    """The name of every module of torchvision's `vgg16`/`vgg19` `features`, by index:
    `conv<block>_<n>`, `relu<block>_<n>` and `pool<block>`."""
    names, block, conv = [], 1, 0
    for entry in _vgg_config(architecture):
        if entry == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return names


def _vgg_config(architecture: str) -> tuple[int | str, ...]:
    if architecture not in _VGG_CONFIGS:
        raise ValueError(f"unknown VGG architecture {architecture!r}; choose one of {', '.join(_VGG_CONFIGS)}")
    return _VGG_CONFIGS[architecture]


class VGGFeatures(nn.Module):
    """The first modules of a VGG's `features`, up to the deepest requested layer, returning the
    requested layers' maps by name. Takes images in [-1, 1] (one channel is repeated to RGB) and
    normalises them as the ImageNet VGG expects. Its state dict keys are torchvision's
    (`features.<index>.weight`)."""

    def __init__(self, layers: Sequence[str], architecture: str = "vgg16"):
        super().__init__()
        names = vgg_layer_names(architecture)
        unknown = [layer for layer in layers if layer not in names]
        if unknown or not layers:
            problem = f"unknown {architecture} layers {unknown}" if unknown else "no layers requested"
            raise ValueError(f"{problem}; choose from {', '.join(names)}")
        self.layers = {layer: names.index(layer) for layer in layers}
        self.features = nn.Sequential()
        in_channels = 3
        for entry in _vgg_config(architecture):
            if len(self.features) > max(self.layers.values()):
                break
            if entry == "M":
                self.features.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                self.features.extend([nn.Conv2d(in_channels, entry, kernel_size=3, padding=1), nn.ReLU(inplace=True)])
                in_channels = entry
        # Appended in pairs, a conv may overshoot the deepest layer by its ReLU: drop it.
        del self.features[max(self.layers.values()) + 1 :]
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        elif images.shape[1] != 3:
            raise ValueError(f"VGG features need RGB or gray images, got {images.shape[1]} channels")
        hidden = ((images + 1) / 2 - self.mean) / self.std
        by_index = {index: layer for layer, index in self.layers.items()}
        outputs = {}
        for index, module in enumerate(self.features):
            hidden = module(hidden)
            if index in by_index:
                # In-place ReLUs would overwrite a kept conv output: keep a copy of those.
                outputs[by_index[index]] = hidden.clone() if isinstance(module, nn.Conv2d) else hidden
        return outputs


def load_vgg_features(
    layers: Sequence[str], architecture: str = "vgg16", vgg_weights: str | os.PathLike | None = None
) -> VGGFeatures:
    """A frozen `VGGFeatures` (eval mode, no parameter requiring grad) with ImageNet weights.

    The torchvision state dict (`features.<index>.weight`/`.bias`) is read, with
    `weights_only=True`, from the `vgg_weights` path, else `$I2I_ZOO_VGG_WEIGHTS`, else
    torchvision's file in torch hub's cache (`<hub dir>/checkpoints/vgg16-397923af.pth` or
    `vgg19-dcbb9e9d.pth`). Only the kept layers' tensors are needed; other keys are ignored.
    Raises FileNotFoundError when no file is found (never falls back to random weights) and
    ValueError when the file lacks the kept layers or their shapes differ.
    """
    extractor = VGGFeatures(layers, architecture)
    what = f"torchvision {architecture} ImageNet weights"
    url = _VGG_WEIGHTS[architecture].url
    cached = hub_checkpoints() / url.rsplit("/", 1)[-1]
    path = resolve_weights(
        vgg_weights, option="vgg_weights", env=VGG_WEIGHTS_ENV, candidates=[cached], what=what, urls={cached: url}
    )
    state = read_state_dict(path, what)
    kept = {key: state[key] for key in extractor.state_dict() if key in state}
    try:
        extractor.load_state_dict(kept, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold the {architecture} layers up to {', '.join(layers)}: {error}") from None
    return extractor.requires_grad_(False).eval()


def gram_matrix(features: Tensor) -> Tensor:
    """``(N, C, C)`` Gram matrices of ``(N, C, H, W)`` features: the channels' inner products over
    positions divided by C * H * W, so layers of any size weigh alike, as in Johnson et al."""
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def content_loss(features_a: Mapping[str, Tensor], features_b: Mapping[str, Tensor], layers: Iterable[str]) -> Tensor:
    """Mean squared difference of the feature maps at each of ``layers``, summed over the layers,
    in float32."""
    layers = _check_layers(layers)
    with torch.autocast(device_type=_device_type(features_a), enabled=False):
        return sum(F.mse_loss(_layer(features_a, layer).float(), _layer(features_b, layer).float()) for layer in layers)


def style_loss(features_a: Mapping[str, Tensor], features_b: Mapping[str, Tensor], layers: Iterable[str]) -> Tensor:
    """Mean squared difference of the Gram matrices (see `gram_matrix`) at each of ``layers``,
    summed over the layers, in float32."""
    layers = _check_layers(layers)
    with torch.autocast(device_type=_device_type(features_a), enabled=False):
        return sum(
            F.mse_loss(gram_matrix(_layer(features_a, layer)), gram_matrix(_layer(features_b, layer))) for layer in layers
        )


def _check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    layers = tuple(layers)
    if not layers:
        raise ValueError("a perceptual loss needs at least one layer to compare")
    return layers


def _layer(features: Mapping[str, Tensor], layer: str) -> Tensor:
    if layer not in features:
        raise ValueError(f"no feature map named {layer!r}; the extractor gives {', '.join(features)}")
    return features[layer]


def _device_type(features: Mapping[str, Tensor]) -> str:
    return next(iter(features.values())).device.type


class PerceptualLoss:
    """Content and style losses of images in [-1, 1] on a frozen feature extractor.

    Deliberately not an `nn.Module`: kept as an attribute of a LightningModule it is no submodule,
    so the extractor stays out of the method's `state_dict`, checkpoints, parameters and DDP.
    It therefore follows the device of the images it is given rather than the module's `.to()`.
    Features are computed in float32 with autocast off.

    Args:
        extractor: images -> dict of named feature maps (e.g. `load_vgg_features(...)`).
        content_layers: the layers `content` compares.
        style_layers: the layers `style` compares.
    """

    def __init__(self, extractor: FeatureExtractor, content_layers: Sequence[str], style_layers: Sequence[str]):
        self.extractor = extractor
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self._device: torch.device | None = None

    def features(self, images: Tensor) -> Mapping[str, Tensor]:
        """The extractor's feature maps of ``images``, in float32."""
        if isinstance(self.extractor, nn.Module) and images.device != self._device:
            self.extractor.to(images.device)
            self._device = images.device
        with torch.autocast(device_type=images.device.type, enabled=False):
            return self.extractor(images.float())

    def content(self, images: Tensor, target: Tensor) -> Tensor:
        """`content_loss` of ``images`` against ``target`` at `content_layers`."""
        return content_loss(self.features(images), self.features(target), self.content_layers)

    def style(self, images: Tensor, target: Tensor) -> Tensor:
        """`style_loss` of ``images`` against ``target`` at `style_layers`."""
        return style_loss(self.features(images), self.features(target), self.style_layers)

    def __call__(self, images: Tensor, content_target: Tensor, style_target: Tensor) -> tuple[Tensor, Tensor]:
        """(content, style) losses of ``images``, whose features are computed once for both."""
        features = self.features(images)
        return (
            content_loss(features, self.features(content_target), self.content_layers),
            style_loss(features, self.features(style_target), self.style_layers),
        )


def load_perceptual_loss(
    content_layers: Sequence[str],
    style_layers: Sequence[str],
    architecture: str = "vgg16",
    vgg_weights: str | os.PathLike | None = None,
) -> PerceptualLoss:
    """A `PerceptualLoss` on a pretrained VGG holding the layers both lists need (see
    `load_vgg_features` for where the weights are found). A method calls it when fit starts
    (`setup`/`on_fit_start`) and keeps the result as a plain attribute."""
    layers = list(dict.fromkeys([*content_layers, *style_layers]))
    return PerceptualLoss(load_vgg_features(layers, architecture, vgg_weights), content_layers, style_layers)
