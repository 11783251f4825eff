"""RC and FC on tiny folder-per-class sets whose classes are solid colours with noise: a classifier
separates them after a few steps, so faithful translations score 1 and translations that ignore
their target score chance. The classifier is timm's `test_resnet` with weights saved here, loaded
through --weights as ImageNet weights would be."""

import json
from dataclasses import replace
from pathlib import Path

import cv2
import huggingface_hub
import numpy as np
import pytest
import timm
import torch

from i2i_zoo.cli import main as cli_main
from i2i_zoo.metrics import class_accuracy
from i2i_zoo.metrics.class_accuracy import (
    WEIGHTS_ENV,
    Settings,
    build_classifier,
    read_class_folders,
    resolve_classifier_weights,
    train_classifier,
)

COLOURS = {"blue": (30, 30, 220), "green": (30, 200, 30), "red": (220, 30, 30)}
CLASSES = sorted(COLOURS)
MODEL = "test_resnet"


def write_set(folder: Path, per_class: int, seed: int, colour_of=lambda label, index: label) -> Path:
    """`per_class` noisy images of each class's colour in `folder/<class>/` (alternately 40x40 and
    48x40, so they are resized and cropped); `colour_of(label, index)` picks the colour."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            colour = COLOURS[CLASSES[colour_of(label, index)]]
            noisy = np.array(colour) + rng.normal(0, 25, (40 + 8 * (index % 2), 40, 3))
            cv2.imwrite(str(folder / name / f"{index}.png"), np.clip(noisy, 0, 255).astype(np.uint8)[:, :, ::-1])
    return folder


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("class_sets")
    return {
        "real_train": write_set(root / "real_train", 12, seed=0),
        "real_test": write_set(root / "real_test", 8, seed=1),
        "fake": write_set(root / "fake", 12, seed=2),
        # Translations that ignore their target: each class folder holds every colour equally.
        "ignoring": write_set(root / "ignoring", 12, seed=3, colour_of=lambda label, index: index % len(CLASSES)),
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "test_resnet.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model(MODEL).state_dict(), path)
    return path


@pytest.fixture
def settings(weights) -> Settings:
    return Settings(model=MODEL, weights=str(weights), epochs=2, batch_size=8, lr=0.05, image_size=32, device="cpu", num_workers=0)


@pytest.fixture
def no_cached_weights(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches, and no weights variable."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def copy_set(source: Path, target: Path, classes=CLASSES) -> Path:
    """One image of `source` in each of `classes`' folders under `target`."""
    image = next(source.rglob("*.png"))
    for name in classes:
        (target / name).mkdir(parents=True)
        (target / name / image.name).write_bytes(image.read_bytes())
    return target


def test_command_scores_faithful_translations_one_and_writes_json(sets, weights, tmp_path, capsys):
    output = tmp_path / "results" / "class_accuracy.json"
    cli_main([
        "class-accuracy", "--fake", str(sets["fake"]), "--real_train", str(sets["real_train"]),
        "--real_test", str(sets["real_test"]), "--model", MODEL, "--weights", str(weights), "--epochs", "2",
        "--batch_size", "8", "--lr", "0.05", "--image_size", "32", "--device", "cpu", "--num_workers", "0",
        "--output", str(output),
    ])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("RC 1.0000 (mean per class 1.0000, 36 test images")
    assert lines[1].startswith("FC 1.0000 (mean per class 1.0000, 24 test images")
    report = json.loads(output.read_text())
    assert report["metrics"]["rc"]["per_class"] == {name: 1.0 for name in CLASSES}
    assert report["metrics"]["fc"]["test_images"] == 24
    assert report["classifier"]["model"] == MODEL and report["classifier"]["weights"] == str(weights)
    assert report["classifier"]["epochs"] == 2 and report["classifier"]["image_size"] == 32
    assert [p.name for p in output.parent.iterdir()] == [output.name]  # no partial file left


def test_translations_that_ignore_their_target_score_chance(sets, settings):
    results = class_accuracy.class_accuracy(sets["ignoring"], sets["real_train"], sets["real_test"], settings=settings)
    # The real classifier is right on every colour: a third of each folder has its colour.
    assert results["rc"].accuracy == pytest.approx(1 / 3)
    assert results["rc"].per_class == pytest.approx({name: 1 / 3 for name in CLASSES})
    # Trained on colours that say nothing of the label, the classifier cannot know the classes.
    assert results["fc"].accuracy < 0.7


def test_training_is_seeded_and_starts_from_the_given_weights(sets, settings, weights):
    images = read_class_folders(sets["real_test"], "--real_test")
    one = replace(settings, epochs=1)
    first, second = (train_classifier(images, one, weights) for _ in range(2))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    saved = torch.load(weights, weights_only=True)
    untrained = build_classifier(MODEL, len(CLASSES), weights)
    torch.testing.assert_close(untrained.state_dict()["conv1.0.weight"], saved["conv1.0.weight"])
    assert untrained.get_classifier().out_features == len(CLASSES)
    reseeded = train_classifier(images, replace(one, seed=1), weights)
    assert not torch.equal(reseeded.get_classifier().weight, first.get_classifier().weight)


def test_class_names_must_match_between_sets(sets, settings, tmp_path):
    fake = copy_set(sets["fake"], tmp_path / "fake", ["blue", "cyan", "green"])
    with pytest.raises(ValueError, match="matched by folder name") as error:
        class_accuracy.class_accuracy(fake, sets["real_train"], settings=settings, metrics=["rc"])
    message = str(error.value)
    assert f"--fake {fake} lacks ['red']" in message and f"--fake {fake} alone has ['cyan']" in message
    assert f"--real_train {sets['real_train']} lacks ['cyan']" in message


def test_one_class_is_refused(sets, settings, tmp_path):
    real, fake = (copy_set(sets["fake"], tmp_path / name, ["red"]) for name in ("real", "fake"))
    with pytest.raises(ValueError, match=r"one class folder \['red'\]: RC and FC need two classes"):
        class_accuracy.class_accuracy(fake, real, settings=settings, metrics=["rc"])


def test_empty_class_folder_names_it(sets, settings, tmp_path):
    fake = copy_set(sets["fake"], tmp_path / "fake")
    for image in (fake / "green").iterdir():
        image.unlink()
    with pytest.raises(ValueError, match=rf"--fake: class folder {fake / 'green'} holds no images"):
        class_accuracy.class_accuracy(fake, sets["real_train"], sets["real_test"], settings=settings)


def test_folder_without_class_folders_is_refused(sets, settings):
    with pytest.raises(ValueError, match=r"--fake .*blue holds no class folders"):
        class_accuracy.class_accuracy(sets["fake"] / "blue", sets["real_train"], settings=settings, metrics=["rc"])


def test_unreadable_image_is_named_before_any_training(sets, settings, tmp_path, capsys):
    fake = copy_set(sets["fake"], tmp_path / "fake")
    (fake / "red" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=rf"1 of the \d+ images cannot be read: cannot read image {fake / 'red' / 'broken.png'}"):
        class_accuracy.class_accuracy(fake, sets["real_train"], sets["real_test"], settings=settings)
    assert "epoch" not in capsys.readouterr().err


def test_missing_weights_say_which_file_to_put_where(sets, settings, no_cached_weights):
    default = replace(settings, model="resnet50.tv_in1k", weights=None)
    with pytest.raises(FileNotFoundError) as error:
        class_accuracy.class_accuracy(sets["fake"], sets["real_train"], settings=default, metrics=["rc"])
    message = str(error.value)
    assert str(no_cached_weights / "resnet50-0676ba61.pth") in message
    assert "https://download.pytorch.org/models/resnet50-0676ba61.pth" in message
    assert WEIGHTS_ENV in message and "--weights" in message and "--weights none" in message
    # A model whose weights are only on the Hugging Face hub: where to download them.
    with pytest.raises(FileNotFoundError, match=r"https://huggingface.co/timm/test_resnet.r160_in1k"):
        resolve_classifier_weights(MODEL, None)
    with pytest.raises(FileNotFoundError, match=r"--weights=.*absent.pth: no such file"):
        resolve_classifier_weights(MODEL, str(no_cached_weights / "absent.pth"))


def test_weights_are_found_in_the_variable_then_timms_cache_and_none_means_random(weights, no_cached_weights, monkeypatch):
    assert resolve_classifier_weights(MODEL, "none") is None
    cached = no_cached_weights / "resnet50-0676ba61.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert resolve_classifier_weights("resnet50.tv_in1k", None) == cached
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    assert resolve_classifier_weights("resnet50.tv_in1k", None) == weights


def test_safetensors_weights_load_as_timms_hugging_face_files(weights, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(torch.load(weights, weights_only=True), path)
    network = build_classifier(MODEL, len(CLASSES), path)
    torch.testing.assert_close(network.state_dict()["conv1.0.weight"], torch.load(weights, weights_only=True)["conv1.0.weight"])
    path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match=rf"{path} is not a readable safetensors file"):
        build_classifier(MODEL, len(CLASSES), path)


def test_weights_of_another_network_are_refused(tmp_path):
    state = timm.create_model(MODEL).state_dict()
    del state["conv1.0.weight"]
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=rf"{path} does not hold the weights of timm's {MODEL} \(--weights\):.*conv1.0.weight"):
        build_classifier(MODEL, 3, path)
    with pytest.raises(ValueError, match=r"--model resnet_nonexistent is not a timm model"):
        build_classifier("resnet_nonexistent", 3, path)


def test_output_inside_an_input_folder_is_refused(sets, weights):
    with pytest.raises(ValueError, match=r"--output .* lies inside the input folder"):
        class_accuracy.main([
            "--fake", str(sets["fake"]), "--real_train", str(sets["real_train"]), "--metrics", "rc",
            "--model", MODEL, "--weights", str(weights), "--output", str(sets["fake"] / "red" / "results.json"),
        ])
    with pytest.raises(ValueError, match=r"FC needs --real_test"):
        class_accuracy.main(["--fake", str(sets["fake"]), "--model", MODEL, "--weights", str(weights), "--metrics", "fc"])
