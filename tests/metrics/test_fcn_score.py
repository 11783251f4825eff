"""FCNScore: a segmenter's classes of translated photos against the label maps they came from.
Toy segmenters with known outputs and hand-computed scores, dict and tensor outputs, input
preparation, JPEG-like label colours with a tolerance, torchvision weights through the option and
the variable, the missing-file error; the methods' `EvalImages.source`; a tiny pix2pix end to end."""

import pytest
import torch
import torchvision
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from i2i_zoo.data.demo import SHAPES_PALETTE
from i2i_zoo.methods import METHODS, EvalImages
from i2i_zoo.metrics import SEGMENTER_WEIGHTS_ENV, FCNScore, labels_from_colour_map
from i2i_zoo.metrics.attribute_error import IMAGENET_MEAN, IMAGENET_STD

BLACK, RED, BLUE, GREEN = (0, 0, 0), (255, 0, 0), (0, 0, 255), (10, 200, 10)
PALETTE = [list(BLACK), list(RED), list(BLUE)]  # classes 0, 1, 2; GREEN is no class
SCORES = ("fcn_pixel_accuracy", "fcn_mean_class_accuracy", "fcn_mean_iou")


def colour_maps(*images: list[tuple[int, int, int]]) -> torch.Tensor:
    """N x 3 x 1 x W images in [-1, 1], one row of 8-bit RGB colours per image."""
    return torch.tensor(images, dtype=torch.float32)[:, None].permute(0, 3, 1, 2) / 127.5 - 1


class NearestColour(nn.Module):
    """A segmenter whose output is known: class scores -||x - c_k||^2 for [0, 1] photos, so each
    pixel takes the class of the nearest palette colour; returned as torchvision does, {"out": ...}."""

    def __init__(self, palette):
        super().__init__()
        self.register_buffer("colours", torch.tensor(palette, dtype=torch.float32) / 255)

    def forward(self, x):
        return {"out": -(x[:, None] - self.colours[None, :, :, None, None]).square().sum(2), "aux": None}


class Recorder(nn.Module):
    """Records its input and returns, as a plain tensor at a quarter of the input's side, scores
    that give every pixel the class of the image's mean colour's nearest palette colour."""

    def __init__(self, palette):
        super().__init__()
        self.nearest = NearestColour(palette)
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x)
        mean = x.mean((2, 3), keepdim=True) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        return self.nearest(mean)["out"].expand(-1, -1, x.shape[2] // 4, x.shape[3] // 4)


# Label maps (the translations' sources) and translated photos of two 1 x 3 images. GREEN is no
# class: ignored. The photos' nearest palette colours: (20, 10, 0) -> black; (230, 20, 20),
# (180, 40, 60) -> red; (150, 0, 120) -> red (squared distances 25425 to red, 36900 to black,
# 40725 to blue).
SOURCE = colour_maps([BLACK, BLACK, RED], [RED, BLUE, GREEN])
FAKE = colour_maps([(20, 10, 0), (230, 20, 20), RED], [(180, 40, 60), (150, 0, 120), BLUE])
# true [[0, 0, 1], [1, 2, -]], predicted [[0, 1, 1], [1, 1, 2]]:
# confusion[true, predicted] = [[1, 1, 0],
#                               [0, 2, 0],
#                               [0, 1, 0]] over the 5 counted pixels.
# Pixel accuracy (1 + 2 + 0) / 5; class accuracies 1/2, 2/2, 0/1 -> mean 1/2;
# IoUs 1 / (2 + 1 - 1), 2 / (2 + 4 - 2), 0 / (1 + 0 - 0) -> mean (1/2 + 1/2 + 0) / 3.
HAND = dict(zip(SCORES, (3 / 5, 1 / 2, 1 / 3)))


class StoredPhotos(LightningModule):
    """A method stand-in: validation_step/test_step return each group's stored images of the
    batch's indices."""

    def __init__(self, groups: dict[str, EvalImages]):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.zeros(()))

    def validation_step(self, index, batch_idx):
        return {
            name: EvalImages(fake=images.fake[index], source=None if images.source is None else images.source[index])
            for name, images in self.groups.items()
        }

    test_step = validation_step


def scores(images: dict[str, EvalImages], stage: str = "validate", **options) -> dict[str, float]:
    callback = FCNScore(**{"segmenter": NearestColour(PALETTE), "groups": ["BtoA"], "palette": PALETTE,
                           "input_normalization": "unit", **options})  # fmt: skip
    trainer = Trainer(callbacks=[callback], accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    loader = DataLoader(range(len(SOURCE)), batch_size=1)  # two batches: the confusion accumulates
    (logged,) = getattr(trainer, stage)(StoredPhotos(images), dataloaders=loader, verbose=False)
    return logged


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_scores_match_a_hand_computation(stage):
    prefix = "val" if stage == "validate" else "test"
    logged = scores({"BtoA": EvalImages(fake=FAKE, source=SOURCE)}, stage)
    assert logged == pytest.approx({f"{prefix}/{name}": value for name, value in HAND.items()})


def test_several_groups_are_suffixed_and_others_left_alone():
    groups = {
        "BtoA": EvalImages(fake=FAKE, source=SOURCE),
        "exact": EvalImages(fake=SOURCE, source=SOURCE),  # the label colours as photos: all right
        "AtoB": EvalImages(fake=SOURCE, source=FAKE),  # not named: not scored
    }
    expected = {f"val/{name}_BtoA": value for name, value in HAND.items()} | {f"val/{name}_exact": 1.0 for name in SCORES}
    assert scores(groups, groups=["BtoA", "exact"]) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"\['BtoA'\] had no images with a source.*'BtoA': 'no source'"):
        scores({"BtoA": EvalImages(fake=FAKE)})


def test_photos_are_prepared_and_classes_resized_back_to_the_label_map():
    # Uniform photos (all red, all blue): resizing keeps their colour. The Recorder's classes come
    # at a quarter of the 8 x 8 input and go back to 1 x 3: predicted [[1, 1, 1], [2, 2, 2]].
    photos = colour_maps([RED] * 3, [BLUE] * 3)
    recorder = Recorder(PALETTE)
    logged = scores({"BtoA": EvalImages(fake=photos, source=SOURCE)}, segmenter=recorder, input_normalization="imagenet", input_size=8)
    # true [[0, 0, 1], [1, 2, -]]: confusion [[0, 2, 0], [0, 1, 1], [0, 0, 1]]; pixel accuracy 2/5;
    # class accuracies 0/2, 1/2, 1/1 -> 1/2; IoUs 0/2, 1/(2 + 3 - 1), 1/(1 + 2 - 1) -> (0 + 1/4 + 1/2) / 3.
    assert logged == pytest.approx(dict(zip([f"val/{name}" for name in SCORES], (2 / 5, 1 / 2, 1 / 4))))
    first = recorder.inputs[0]
    assert first.shape == (1, 3, 8, 8)
    expected = (torch.tensor([1.0, 0, 0]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(first, expected.view(1, 3, 1, 1).expand(1, 3, 8, 8))
    assert not recorder.training


def test_noisy_label_colours_within_the_tolerance_take_the_nearest_class():
    # JPEG-like label colours: distances sqrt(5^2 + 5^2 + 3^2) = 7.7 from red, 15 from red, 6 from blue.
    noisy = colour_maps([(250, 5, 3), (240, 0, 0), (0, 0, 249)])
    assert labels_from_colour_map(noisy, PALETTE).tolist() == [[[255, 255, 255]]]  # exact colours only
    assert labels_from_colour_map(noisy, PALETTE, tolerance=9).tolist() == [[[1, 255, 2]]]
    assert labels_from_colour_map(noisy, PALETTE, tolerance=15).tolist() == [[[1, 1, 2]]]
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        labels_from_colour_map(noisy, PALETTE, tolerance=-1)
    # Through the callback: the hand-computed scores from label maps off by up to 8 levels.
    jpeg_like = colour_maps([(4, 3, 0), (0, 6, 5), (251, 0, 4)], [(255, 5, 2), (3, 0, 250), GREEN])
    assert scores({"BtoA": EvalImages(fake=FAKE, source=jpeg_like)}, colour_tolerance=9) == pytest.approx(
        {f"val/{name}": value for name, value in HAND.items()}
    )


def test_bad_options_are_named():
    module = NearestColour(PALETTE)
    for options, error, match in [
        ({"segmenter": "unet", "groups": ["BtoA"]}, ValueError, r"segmenter='unet'\) is no torchvision segmentation architecture"),
        ({"segmenter": 3, "groups": ["BtoA"]}, TypeError, "takes a torchvision architecture name or an nn.Module"),
        ({"segmenter": module, "groups": ["BtoA"], "segmenter_weights": "x.pth"}, ValueError, "goes with a torchvision architecture name"),
        ({"segmenter": module, "groups": None}, ValueError, r"groups=None\): name the groups"),
        ({"segmenter": module, "groups": ["BtoA"], "colour_tolerance": -1}, ValueError, "colour_tolerance=-1"),
        ({"segmenter": module, "groups": ["BtoA"], "input_normalization": "caffe"}, ValueError, "input_normalization='caffe'"),
        ({"segmenter": module, "groups": ["BtoA"], "input_size": [0, 4]}, ValueError, "input_size"),
        ({"segmenter": module, "groups": ["BtoA"], "palette": "pascal"}, ValueError, r"FCNScore\(palette='pascal'\) is unknown"),
    ]:
        with pytest.raises(error, match=match):
            FCNScore(**options)
    wrong = nn.Conv2d(3, 5, 1)  # 5 classes for a 3-colour palette
    with pytest.raises(ValueError, match=r"scores of shape \(1, 5, 1, 3\); expected N x 3 x h x w"):
        scores({"BtoA": EvalImages(fake=FAKE, source=SOURCE)}, segmenter=wrong)


def test_a_missing_weights_file_names_the_option_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(SEGMENTER_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty hub cache
    module = StoredPhotos({})
    missing = tmp_path / "missing.pth"
    callback = FCNScore("lraspp_mobilenet_v3_large", groups=["BtoA"], segmenter_weights=str(missing))
    with pytest.raises(FileNotFoundError, match=f"FCNScore segmenter_weights={missing}: no such file"):
        callback.setup(None, module, "validate")
    callback = FCNScore("lraspp_mobilenet_v3_large", groups=["BtoA"])
    expected = rf"lraspp_mobilenet_v3_large_cityscapes.pth.*{SEGMENTER_WEIGHTS_ENV} or the FCNScore segmenter_weights option"
    with pytest.raises(FileNotFoundError, match=expected):
        callback.setup(None, module, "validate")
    assert callback.segmenter is None  # never random weights
    callback.setup(None, module, "predict")  # predict runs score nothing and need no file


@pytest.fixture(scope="module")
def lraspp_weights(tmp_path_factory):
    """A real-format torchvision state dict (3.2 M parameters, built in ~0.1 s), 3 classes."""
    network = torchvision.models.get_model("lraspp_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=3)
    path = tmp_path_factory.mktemp("segmenter") / "lraspp.pth"
    torch.save(network.state_dict(), path)
    return path, network.state_dict()


def test_torchvision_weights_load_through_the_option_and_the_variable(lraspp_weights, monkeypatch):
    path, state = lraspp_weights
    module = StoredPhotos({})
    for options, variable in (({"segmenter_weights": str(path)}, None), ({}, str(path))):
        if variable:
            monkeypatch.setenv(SEGMENTER_WEIGHTS_ENV, variable)
        callback = FCNScore("lraspp_mobilenet_v3_large", groups=["BtoA"], palette=PALETTE, **options)
        callback.setup(None, module, "validate")
        loaded = callback.segmenter.state_dict()
        assert all(torch.equal(loaded[key], value) for key, value in state.items()) and loaded.keys() == state.keys()
        assert not callback.segmenter.training
    # The torchvision network through validation: its {"out": ...} at the 32 x 32 input, back to 1 x 3.
    logged = scores({"BtoA": EvalImages(fake=FAKE, source=SOURCE)}, segmenter="lraspp_mobilenet_v3_large", input_size=32)
    assert set(logged) == {f"val/{name}" for name in SCORES} and all(0 <= value <= 1 for value in logged.values())
    # Weights of another class count: an error naming the file.
    with pytest.raises(ValueError, match=r"segmenter_weights=.*lraspp.pth does not fit lraspp_mobilenet_v3_large with 19 classes"):
        FCNScore("lraspp_mobilenet_v3_large", groups=["BtoA"], segmenter_weights=str(path)).setup(None, module, "validate")


def test_building_the_network_leaves_the_random_stream_alone(lraspp_weights):
    callback = FCNScore("lraspp_mobilenet_v3_large", groups=["BtoA"], palette=PALETTE, segmenter_weights=str(lraspp_weights[0]))
    torch.manual_seed(0)
    callback.setup(None, StoredPhotos({}), "validate")
    after = torch.rand(3)
    torch.manual_seed(0)
    torch.testing.assert_close(after, torch.rand(3))


def test_a_state_dict_with_the_auxiliary_head_loads(tmp_path):
    name = "deeplabv3_mobilenet_v3_large"
    network = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=3, aux_loss=True)
    path = tmp_path / "deeplabv3.pth"
    torch.save(network.state_dict(), path)
    callback = FCNScore(name, groups=["BtoA"], palette=PALETTE, segmenter_weights=str(path))
    callback.setup(None, StoredPhotos({}), "validate")
    assert callback.segmenter.aux_classifier is not None


@pytest.mark.parametrize("name", ["Pix2Pix", "CycleGAN", "SPL", "AsymGAN"])
def test_methods_give_the_images_their_translations_came_from(name):
    entry = METHODS[name]
    model = entry.build().eval()
    batch = entry.make_batch(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        groups = model.evaluation_images(batch)
    if name == "AsymGAN":
        x, y = model.domains(batch)
        expected = {"XtoY": x, "YtoX": y}
    elif name == "CycleGAN":
        expected = {"AtoB": batch["A"], "BtoA": batch["B"]}
    else:
        expected = {"AtoB": batch["A"]}
    assert list(groups) == list(expected)
    assert all(groups[group].source is images for group, images in expected.items())


def test_a_tiny_pix2pix_on_the_shapes_demo_logs_the_three_scores():
    # The demo's A images are shapes label maps, B their photos: AtoB is label map -> photo.
    entry = METHODS["Pix2Pix"]
    callback = FCNScore(NearestColour(SHAPES_PALETTE.colours), groups=["AtoB"], palette="demo_shapes", input_normalization="unit")
    trainer = Trainer(callbacks=[callback], accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=2)  # fmt: skip
    (logged,) = trainer.validate(entry.build(), datamodule=entry.build_datamodule(val_split="val"), verbose=False)
    assert set(logged) >= {f"val/{name}" for name in SCORES}
    assert all(0 <= logged[f"val/{name}"] <= 1 for name in SCORES)


def test_a_checkpoint_monitoring_a_score_must_save_on_the_epochs_it_is_computed(tmp_path):
    callback = FCNScore(NearestColour(PALETTE), groups=["BtoA"], palette=PALETTE, every_n_epochs=2)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/fcn_mean_iou_BtoA", mode="max")
    trainer = Trainer(callbacks=[callback, checkpoint], accelerator="cpu", logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"monitor='val/fcn_mean_iou_BtoA'\) saves every 1 epoch\(s\) but FCNScore computes it every 2"):
        callback.setup(trainer, StoredPhotos({}), "fit")
