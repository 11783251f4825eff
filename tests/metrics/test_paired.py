import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from i2i_zoo.metrics.paired import (
    LPIPS_BACKBONE_ENV,
    PAIRED_METRICS,
    LPIPSMetric,
    load_lpips_network,
    ms_ssim_metric,
    ms_ssim_settings,
    paired_inputs,
    psnr_metric,
    ssim_metric,
)

# One noise level per image, so the mean of per-image PSNRs differs from the PSNR of the pooled MSE.
NOISE = (0.02, 0.05, 0.1, 0.2)
STANDARD_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


def noisy_pair(channels: int, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """[-1, 1] fakes and targets, each image with its own noise level."""
    torch.manual_seed(seed)
    target = torch.rand(len(NOISE), channels, size, size) * 2 - 1
    sigma = 2 * torch.tensor(NOISE).view(-1, 1, 1, 1)
    return (target + sigma * torch.randn_like(target)).clamp(-1, 1), target


def to_numpy(images: torch.Tensor) -> list[np.ndarray]:
    """Per-image float64 arrays: H x W for gray, C x H x W for colour."""
    return [image[0] if image.shape[0] == 1 else image for image in images.double().numpy()]


def skimage_ssim(fake: np.ndarray, target: np.ndarray) -> float:
    return structural_similarity(
        target, fake, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=0 if fake.ndim == 3 else None,
    )


def test_paired_metric_names():
    assert PAIRED_METRICS == ("psnr", "ssim", "ms_ssim", "lpips")


# --- PSNR and SSIM against skimage ---

@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_is_the_mean_of_per_image_psnrs_as_in_skimage(channels):
    fake, target = paired_inputs(*noisy_pair(channels))
    metric = psnr_metric()
    metric.update(fake[:2], target[:2])
    metric.update(fake[2:], target[2:])
    per_image = [peak_signal_noise_ratio(t, f, data_range=1.0) for f, t in zip(to_numpy(fake), to_numpy(target))]
    assert metric.compute().item() == pytest.approx(np.mean(per_image), abs=2e-5)
    # The pooled-MSE PSNR is several dB off, so the comparison above tells the two apart.
    pooled = 10 * math.log10(1 / torch.mean((fake.double() - target.double()) ** 2).item())
    assert abs(pooled - np.mean(per_image)) > 1.0


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_the_mean_of_per_image_ssims_as_in_skimage(channels):
    fake, target = paired_inputs(*noisy_pair(channels))
    metric = ssim_metric()
    metric.update(fake[:2], target[:2])
    metric.update(fake[2:], target[2:])
    per_image = [skimage_ssim(f, t) for f, t in zip(to_numpy(fake), to_numpy(target))]
    assert np.ptp(per_image) > 0.1
    assert metric.compute().item() == pytest.approx(np.mean(per_image), abs=2e-6)


def test_ssim_matches_skimage_on_a_smooth_image_with_structure_at_the_border():
    # A border-heavy image: averaging reflect-padded border windows would move the score by ~1e-2.
    rows = torch.linspace(0, 1, 32).view(-1, 1)
    target = torch.sin(7 * rows + 4 * rows.T).expand(1, 3, 32, 32).contiguous()
    fake = torch.roll(target, shifts=1, dims=-1)
    fake01, target01 = paired_inputs(fake, target)
    metric = ssim_metric()
    metric.update(fake01, target01)
    expected = skimage_ssim(to_numpy(fake01)[0], to_numpy(target01)[0])
    assert metric.compute().item() == pytest.approx(expected, abs=2e-6)


def test_ssim_of_identical_images_is_one_and_small_images_raise():
    _, target = paired_inputs(*noisy_pair(3, size=16))
    metric = ssim_metric()
    metric.update(target, target)
    assert metric.compute().item() == pytest.approx(1.0, abs=2e-6)
    with pytest.raises(ValueError, match="at least 11 px"):
        ssim_metric().update(target[..., :10, :], target[..., :10, :])


# --- paired_inputs ---

def test_inputs_are_mapped_to_unit_range_and_clamped():
    fake = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0]).view(1, 1, 2, 3)
    mapped, _ = paired_inputs(fake, fake)
    assert mapped.flatten().tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]


def test_y_channel_of_a_pixel_matches_matlab_rgb2ycbcr():
    rgb = torch.tensor([0.2, -0.4, 0.6]).view(1, 3, 1, 1)  # (0.6, 0.3, 0.8) in [0, 1]
    black_white = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]).view(2, 3, 1, 1)
    y, _ = paired_inputs(rgb, rgb, y_channel=True)
    assert y.shape == (1, 1, 1, 1)
    # 16 + 65.481 * 0.6 + 128.553 * 0.3 + 24.966 * 0.8 = 16 + 39.2886 + 38.5659 + 19.9728
    assert y.item() == pytest.approx(113.8273 / 255, abs=1e-6)
    y, _ = paired_inputs(black_white, black_white, y_channel=True)
    assert y.flatten().tolist() == pytest.approx([16 / 255, 235 / 255], abs=1e-6)


def test_gray_images_skip_the_y_conversion():
    fake, target = noisy_pair(1, size=16)
    plain = paired_inputs(fake, target)
    for y, expected in zip(paired_inputs(fake, target, y_channel=True), plain):
        assert torch.equal(y, expected)


def test_border_is_cropped_from_every_side():
    fake, target = torch.rand(2, 3, 20, 24) * 2 - 1, torch.rand(2, 3, 20, 24) * 2 - 1
    cropped_fake, cropped_target = paired_inputs(fake, target, y_channel=True, border=4)
    assert cropped_fake.shape == cropped_target.shape == (2, 1, 12, 16)
    full_fake, _ = paired_inputs(fake, target, y_channel=True)
    assert torch.equal(cropped_fake, full_fake[..., 4:16, 4:20])


def test_mismatched_shapes_and_too_large_borders_raise():
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) vs \(1, 3, 8, 9\)"):
        paired_inputs(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        paired_inputs(torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="border of 4 px leaves no pixels of 8 x 10"):
        paired_inputs(torch.zeros(1, 3, 8, 10), torch.zeros(1, 3, 8, 10), border=4)


def test_super_resolution_convention_matches_skimage_on_hand_made_y_channels():
    fake, target = noisy_pair(3, size=40)
    scale = 4
    metric = psnr_metric()
    ssim = ssim_metric()
    metric.update(*paired_inputs(fake, target, y_channel=True, border=scale))
    ssim.update(*paired_inputs(fake, target, y_channel=True, border=scale))

    def y_cropped(images: torch.Tensor) -> list[np.ndarray]:
        rgb = (images.double().numpy() + 1) / 2
        y = (16 + np.einsum("nchw,c->nhw", rgb, [65.481, 128.553, 24.966])) / 255
        return list(y[:, scale:-scale, scale:-scale])

    pairs = list(zip(y_cropped(fake), y_cropped(target)))
    assert pairs[0][0].shape == (32, 32)
    expected_psnr = np.mean([peak_signal_noise_ratio(t, f, data_range=1.0) for f, t in pairs])
    assert metric.compute().item() == pytest.approx(expected_psnr, abs=2e-5)
    assert ssim.compute().item() == pytest.approx(np.mean([skimage_ssim(f, t) for f, t in pairs]), abs=2e-6)


# --- MS-SSIM ---

@pytest.mark.parametrize(
    ("height", "width", "kernel_size", "scales"),
    [
        (256, 256, 11, 5),
        (176, 176, 11, 5),  # torchmetrics needs 176 // 16 > 10 for 5 scales
        (175, 175, 11, 4),
        (161, 161, 11, 4),
        (160, 160, 11, 4),
        (128, 128, 11, 4),
        (99, 99, 11, 4),  # 99 // 3 ** 2 > 10
        (98, 98, 11, 3),
        (64, 64, 11, 3),
        (44, 44, 11, 3),  # 44 // 2 ** 2 > 10
        (43, 43, 11, 2),
        (32, 32, 11, 2),
        (16, 16, 11, 2),
        (12, 12, 11, 2),  # the coarser scale keeps 6 px, more than the 5 px reflect padding
        (11, 11, 11, 1),  # 2 scales would leave 5 px: padding fails
        (10, 10, 9, 1),
        (9, 9, 9, 1),
        (8, 8, 7, 1),
        (3, 3, 3, 1),
        (64, 256, 11, 3),  # the shorter side decides
        (256, 43, 11, 2),
    ],
)
def test_ms_ssim_settings_keep_the_finest_scales_that_fit(height, width, kernel_size, scales):
    got_kernel, betas = ms_ssim_settings(height, width)
    assert got_kernel == kernel_size
    kept = STANDARD_BETAS[:scales]
    expected = STANDARD_BETAS if scales == 5 else tuple(beta / sum(kept) for beta in kept)
    assert betas == pytest.approx(expected, rel=1e-12)
    assert all(isinstance(beta, float) for beta in betas)


def test_ms_ssim_settings_renormalise_hand_computed_betas():
    _, betas = ms_ssim_settings(64, 64)
    assert betas == pytest.approx((0.0448 / 0.6305, 0.2856 / 0.6305, 0.3001 / 0.6305))


def test_ms_ssim_settings_reject_images_smaller_than_three_pixels():
    with pytest.raises(ValueError, match=r"at least 3 x 3 px, got 2 x 64"):
        ms_ssim_settings(2, 64)


@pytest.mark.parametrize("size", [64, 32, 10])
def test_ms_ssim_is_one_for_identical_images_and_lower_for_noisy_ones(size):
    fake, target = paired_inputs(*noisy_pair(3, size=size))
    identical = ms_ssim_metric(size, size)
    identical.update(target, target)
    assert identical.compute().item() == pytest.approx(1.0, abs=1e-5)
    scores = []
    for index in range(len(NOISE)):
        metric = ms_ssim_metric(size, size)
        metric.update(fake[index:index + 1], target[index:index + 1])
        scores.append(metric.compute().item())
    assert all(math.isfinite(score) for score in scores)
    assert scores == sorted(scores, reverse=True) and scores[0] < 1.0


@pytest.mark.parametrize("size", [3, 4, 5, 9, 10, 11, 12, 43, 44, 98, 99, 175, 176])
def test_ms_ssim_runs_at_every_threshold(size):
    # Below 11 px this also needs the Gaussian window itself to shrink, not only kernel_size.
    fake, target = paired_inputs(*noisy_pair(1, size=size))
    metric = ms_ssim_metric(size, size)
    metric.update(fake, target)
    assert 0.0 < metric.compute().item() < 1.0


# --- LPIPS ---

def features_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key.removeprefix("features."): value for key, value in state.items() if key.startswith("features.")}


def backbone_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The backbone's parameters keyed like torchvision's `features` (slice prefix dropped)."""
    return {name.split(".", 1)[1]: value for name, value in network.net.named_parameters()}


def assert_backbone_equals(network: torch.nn.Module, features: dict[str, torch.Tensor]) -> None:
    loaded = backbone_state(network)
    assert loaded.keys() == features.keys()
    assert all(torch.equal(loaded[key], features[key]) for key in features)


@pytest.fixture(scope="module")
def alexnet_weights(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A full torchvision AlexNet state dict with random weights, under torchvision's file name."""
    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / ALEXNET_FILE
    torch.save(state, path)
    return path, features_state(state)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    """Torch hub's cache moved to an empty folder, and no backbone given by the environment."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(LPIPS_BACKBONE_ENV, raising=False)
    hub = tmp_path / "torch" / "hub"
    assert torch.hub.get_dir() == str(hub)
    return hub


def test_lpips_backbone_loads_from_the_argument(alexnet_weights, empty_hub):
    path, features = alexnet_weights
    assert_backbone_equals(load_lpips_network("alex", str(path)), features)


def test_lpips_backbone_loads_from_the_environment(alexnet_weights, empty_hub, monkeypatch):
    path, features = alexnet_weights
    monkeypatch.setenv(LPIPS_BACKBONE_ENV, str(path))
    assert_backbone_equals(load_lpips_network("alex"), features)


def test_lpips_backbone_loads_from_the_hub_cache(alexnet_weights, empty_hub):
    path, features = alexnet_weights
    (empty_hub / "checkpoints").mkdir(parents=True)
    (empty_hub / "checkpoints" / ALEXNET_FILE).symlink_to(path)
    assert_backbone_equals(load_lpips_network("alex"), features)


def test_lpips_squeezenet_backbone_loads(tmp_path, empty_hub):
    torch.manual_seed(0)
    state = torchvision.models.squeezenet1_1(weights=None).state_dict()
    torch.save(state, tmp_path / "squeeze.pth")
    network = load_lpips_network("squeeze", str(tmp_path / "squeeze.pth"))
    loaded = {name.split(".", 2)[2]: value for name, value in network.net.named_parameters()}
    features = features_state(state)
    assert loaded.keys() == features.keys()
    assert all(torch.equal(loaded[key], features[key]) for key in features)


def test_missing_lpips_backbone_explains_where_to_put_it(empty_hub):
    with pytest.raises(FileNotFoundError) as error:
        load_lpips_network("alex")
    message = str(error.value)
    for part in (ALEXNET_FILE, str(empty_hub / "checkpoints" / ALEXNET_FILE), LPIPS_BACKBONE_ENV, "backbone_weights",
                 ALEXNET_URL):
        assert part in message


def test_missing_explicit_lpips_backbone_raises(tmp_path, monkeypatch):
    monkeypatch.setenv(LPIPS_BACKBONE_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_lpips_network("alex")


@pytest.mark.parametrize("damage", ["wrong_shape", "missing_key", "squeezenet"])
def test_lpips_backbone_that_does_not_fit_raises_naming_the_file(alexnet_weights, tmp_path, damage):
    _, features = alexnet_weights
    state = {f"features.{key}": value for key, value in features.items()}
    if damage == "wrong_shape":
        state["features.3.weight"] = torch.zeros(3, 3)
    elif damage == "missing_key":
        del state["features.10.bias"]
    else:
        state = torchvision.models.squeezenet1_1(weights=None).state_dict()
    path = tmp_path / f"{damage}.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=f"{damage}.pth"):
        load_lpips_network("alex", str(path))


def test_lpips_metric_is_the_mean_of_the_network_distances(alexnet_weights):
    torch.manual_seed(0)
    metric = LPIPSMetric(load_lpips_network("alex", str(alexnet_weights[0])))
    assert metric.higher_is_better is False and metric.full_state_update is False
    fake, target = torch.rand(2, 4, 3, 64, 64) * 2 - 1, torch.rand(2, 4, 3, 64, 64) * 2 - 1
    distances = []
    for batch_fake, batch_target in zip(fake, target):
        metric.update(batch_fake, batch_target)
        distances.append(metric.net(batch_fake, batch_target).flatten())
    distances = torch.cat(distances)
    assert distances.shape == (8,) and (distances > 0).all()
    assert metric.compute().item() == pytest.approx(distances.mean().item(), rel=1e-6)


def test_lpips_is_zero_for_identical_images_and_repeats_gray(alexnet_weights):
    torch.manual_seed(0)
    metric = LPIPSMetric(load_lpips_network("alex", str(alexnet_weights[0])))
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    metric.update(images, images)
    assert metric.compute().item() == 0.0

    gray_fake, gray_target = torch.rand(2, 1, 64, 64) * 2 - 1, torch.rand(2, 1, 64, 64) * 2 - 1
    metric.reset()
    metric.update(gray_fake, gray_target)
    rgb = metric.net(gray_fake.repeat(1, 3, 1, 1), gray_target.repeat(1, 3, 1, 1)).mean()
    assert metric.compute().item() == pytest.approx(rgb.item(), rel=1e-6)
