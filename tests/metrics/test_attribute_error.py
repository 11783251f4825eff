"""AttributeClassificationError through the Trainer: the demo's tint classifier on the real demo
images, hand-counted errors of a TorchScript classifier for exclusive domains and attributes,
metric namespaces, and errors naming the option."""

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.data.demo import TINTS, ensure_demo
from i2i_zoo.data.io import read_image
from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.metrics import AttributeClassificationError

# The model's domains in another order than TINTS: the demo classifier must map its columns by name.
DEMO_DOMAINS = sorted(TINTS)


class GivenTranslations(I2IMethod):
    """Evaluates the batch's `fake` images as translations with the batch's `labels`, in the group
    `groups[k]` that each image's `group` index names (empty in a batch without its images)."""

    def __init__(self, domains, groups=("translated",), namespace=""):
        super().__init__()
        self.domains, self.groups, self.metric_namespace = list(domains), groups, namespace
        self.weight = nn.Parameter(torch.zeros(1))

    def optimizer_specs(self):
        return {"G": OptimizerSpec([self.weight], 1e-3)}

    def evaluation_images(self, batch):
        return {
            name: EvalImages(fake=batch["fake"][batch["group"] == k], labels=batch["labels"][batch["group"] == k])
            for k, name in enumerate(self.groups)
        }


def validate(callback, model, fakes, labels, groups=None, batch_size=16):
    groups = torch.zeros(len(fakes), dtype=torch.long) if groups is None else groups
    samples = [{"fake": f, "labels": l, "group": g} for f, l, g in zip(fakes, labels, groups)]
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    (metrics,) = trainer.validate(model, dataloaders=DataLoader(samples, batch_size=batch_size), verbose=False)
    return metrics


def demo_test_images():
    """Every test scene in every tint, in [-1, 1], with the index of its tint in DEMO_DOMAINS."""
    root = ensure_demo("tints", "multi_domain") / "test"
    images, labels = [], []
    for k, tint in enumerate(DEMO_DOMAINS):
        for path in sorted((root / tint).glob("*.png")):
            images.append(torch.from_numpy(np.ascontiguousarray(read_image(path).transpose(2, 0, 1))) * 2 - 1)
            labels.append(k)
    return torch.stack(images), torch.tensor(labels)


def test_demo_tints_classifier_on_the_real_demo_images():
    images, labels = demo_test_images()
    assert len(images) == 160
    model = GivenTranslations(DEMO_DOMAINS)
    right = validate(AttributeClassificationError("demo_tints"), model, images, labels)
    assert right["val/attribute_error"] == 0  # measured: 0 (tint_scores recovers every demo tint)
    wrong = validate(AttributeClassificationError("demo_tints"), model, images, (labels + 1) % 4)
    assert wrong["val/attribute_error"] == 1


class ChannelMeans(nn.Module):
    """Logits = each channel's mean of the normalised images; only takes 8 x 8 images."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (8, 8):
            raise ValueError("ChannelMeans takes 8 x 8 images")
        return images.mean((2, 3))


def colours(*rgb):
    """16 x 16 images of plain colours, each channel 0 or 1, in [-1, 1]."""
    return torch.tensor(rgb, dtype=torch.float32).view(-1, 3, 1, 1).expand(-1, 3, 16, 16) * 2 - 1


@pytest.fixture
def channel_classifier(tmp_path):
    path = tmp_path / "channels.pt"
    torch.jit.save(torch.jit.script(ChannelMeans()), str(path))
    return str(path)


def test_exclusive_domains_count_argmax_errors_per_group(channel_classifier):
    red, green, blue = (1, 0, 0), (0, 1, 0), (0, 0, 1)
    # Group a: blue labelled red, red labelled blue: 2 of 4 wrong. Group b: both right.
    fakes = colours(red, green, blue, red, green, blue)
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    callback = AttributeClassificationError(channel_classifier, classifier_size=8, classifier_mean=[0, 0, 0], classifier_std=[1, 1, 1])
    model = GivenTranslations(["R", "G", "B"], groups=("a", "b"), namespace="phase2/")
    metrics = validate(callback, model, fakes, labels, groups, batch_size=4)  # group b's images in the second batch only
    assert metrics == pytest.approx({"val/phase2/attribute_error_a": 0.5, "val/phase2/attribute_error_b": 0.0, "val/phase2/attribute_error": 0.25})


def test_attributes_count_only_the_groups_attribute(channel_classifier):
    # Normalised by mean 0.5: a channel's logit is +0.5 where it is on, -0.5 where off.
    red, yellow, green, blue, black = (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)
    fakes = colours(red, yellow, green, blue, black)
    labels = torch.tensor([
        [1.0, 1, 0],  # G: wants 1, shows 0: wrong
        [0.0, 1, 1],  # G right (R and B wrong, but they are not this group's attribute)
        [0.0, 0, 0],  # G: wants 0, shows 1: wrong
        [0.0, 0, 1],  # B right
        [0.0, 0, 1],  # B: wants 1, shows 0: wrong
    ])
    groups = torch.tensor([0, 0, 0, 1, 1])
    callback = AttributeClassificationError(channel_classifier, classifier_size=8, classifier_mean=[0.5] * 3, classifier_std=[1] * 3)
    metrics = validate(callback, GivenTranslations(["R", "G", "B"], groups=("G", "B")), fakes, labels, groups)
    assert metrics == pytest.approx({"val/attribute_error_G": 2 / 3, "val/attribute_error_B": 1 / 2, "val/attribute_error": 7 / 12})


def test_errors_name_the_option(tmp_path):
    model = GivenTranslations(["R", "G", "B"])
    fakes, labels = colours((1, 0, 0)), torch.tensor([0])
    with pytest.raises(FileNotFoundError, match=r"classifier='.*missing.pt'\): no such file"):
        validate(AttributeClassificationError(str(tmp_path / "missing.pt")), model, fakes, labels)
    with pytest.raises(ValueError, match="classifier_weights goes with classifier 'timm:<model name>'"):
        AttributeClassificationError("timm:resnet18")
    with pytest.raises(ValueError, match=r"knows the tints \['red', 'green', 'blue', 'yellow'\], not \['R', 'G', 'B'\]"):
        validate(AttributeClassificationError("demo_tints"), model, fakes, labels)


def test_timm_classifier_from_a_state_dict(tmp_path):
    import timm

    network = timm.create_model("resnet18", pretrained=False, num_classes=3)
    torch.save(network.state_dict(), tmp_path / "classifier.pth")
    callback = AttributeClassificationError("timm:resnet18", classifier_weights=str(tmp_path / "classifier.pth"), classifier_size=32)
    fakes, labels = colours((1, 0, 0), (0, 1, 0)), torch.tensor([0, 1])
    metrics = validate(callback, GivenTranslations(["R", "G", "B"]), fakes, labels)
    with torch.no_grad():
        network.eval()
        pixels = torch.nn.functional.interpolate((fakes + 1) / 2, size=32, mode="bilinear", antialias=True)
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        expected = (network((pixels - mean) / std).argmax(1) != labels).float().mean()
    assert metrics["val/attribute_error"] == pytest.approx(float(expected))
