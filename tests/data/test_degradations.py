from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import center_of_mass, gaussian_filter, laplace

from i2i_zoo.data.degradations import (
    DEGRADATIONS,
    bicubic,
    blur_bicubic,
    make_degradation,
    modcrop,
    noisy_bicubic,
    shift,
    shifted_bicubic,
)


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _blob(size: int = 64, centre: tuple[float, float] = (30.0, 34.0), sigma: float = 4.0) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    blob = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return blob[:, :, None].astype(np.float32)


def _centroid(image: np.ndarray) -> np.ndarray:
    """(x, y) centre of mass of a one-channel image."""
    y, x = center_of_mass(image[:, :, 0])
    return np.array([x, y])


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_degradation_gives_an_image_scale_times_smaller(name: str, channels: int) -> None:
    lr = make_degradation(name)(_noise((24, 32, channels)), 4, np.random.default_rng(0))
    assert lr.shape == (6, 8, channels) and lr.dtype == np.float32
    assert lr.min() >= 0 and lr.max() <= 1


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_of_a_constant_image_is_constant(scale: int) -> None:
    lr = bicubic(np.full((6 * scale, 5 * scale, 3), 0.3, np.float32), scale)
    assert lr.shape == (6, 5, 3)
    np.testing.assert_allclose(lr, 0.3, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_is_the_antialiased_bicubic_of_pil_and_torch_away_from_the_edges(scale: int) -> None:
    # PIL and torch (antialias=True) use the same kernel and grid; only their edges differ
    # (they truncate the kernel, MATLAB mirrors the image).
    hr = 0.25 + 0.5 * _noise((12 * scale, 10 * scale, 3))  # no clipping of overshoots
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(hr).permute(2, 0, 1)[None], scale_factor=1 / scale, mode="bicubic",
        antialias=True, align_corners=False,
    )[0].permute(1, 2, 0).numpy()
    lr = bicubic(hr, scale)
    np.testing.assert_allclose(lr[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-5)
    assert not np.allclose(lr[0], expected[0], atol=1e-3)


def test_bicubic_mirrors_the_edges() -> None:
    # A mirrored image's border pixels see the same neighbourhood as in a twice larger image.
    hr = _noise((16, 16, 1))
    doubled = np.concatenate([hr[::-1], hr], axis=0)
    np.testing.assert_allclose(bicubic(hr, 4), bicubic(doubled, 4)[4:], atol=1e-6)


def test_sides_must_be_multiples_of_the_scale() -> None:
    with pytest.raises(ValueError, match=r"17x16 pixels.*multiples.*modcrop"):
        bicubic(_noise((16, 17, 3)), 4)
    assert modcrop(_noise((18, 23, 3)), 4).shape == (16, 20, 3)


def _high_frequency_energy(image: np.ndarray) -> float:
    return float(np.mean(laplace(image[:, :, 0]) ** 2))


def test_blur_removes_high_frequencies_more_with_larger_sigma() -> None:
    hr = _noise((64, 64, 1))
    energies = [_high_frequency_energy(lr) for lr in (
        bicubic(hr, 2), blur_bicubic(hr, 2, sigma=1.0), blur_bicubic(hr, 2, sigma=2.0)
    )]
    assert energies[0] > 2 * energies[1] > 4 * energies[2]


def test_blur_keeps_constant_images() -> None:
    np.testing.assert_allclose(blur_bicubic(np.full((16, 16, 3), 0.7, np.float32), 4), 0.7, atol=1e-6)


def test_noise_has_the_configured_std_and_follows_the_rng() -> None:
    hr = np.full((256, 256, 3), 0.5, np.float32)
    lr = noisy_bicubic(hr, 4, np.random.default_rng(0), sigma=10.0)
    assert abs(lr.std() * 255 - 10.0) < 0.4
    assert abs(lr.mean() - 0.5) < 0.002
    assert np.array_equal(lr, noisy_bicubic(hr, 4, np.random.default_rng(0), sigma=10.0))
    assert not np.array_equal(lr, noisy_bicubic(hr, 4, np.random.default_rng(1), sigma=10.0))
    np.testing.assert_array_equal(noisy_bicubic(hr, 4, np.random.default_rng(0), sigma=0.0), bicubic(hr, 4))


def test_shift_moves_the_content_by_sub_pixel_amounts() -> None:
    blob = _blob()
    moved = shift(blob, 2.25, -1.5)
    np.testing.assert_allclose(_centroid(moved) - _centroid(blob), [2.25, -1.5], atol=0.02)


def test_shifted_bicubic_moves_lr_content_by_at_most_max_shift_lr_pixels() -> None:
    blob = _blob()
    reference = _centroid(bicubic(blob, 4))
    moves = np.array([
        _centroid(shifted_bicubic(blob, 4, np.random.default_rng(seed), max_shift=0.5)) - reference
        for seed in range(8)
    ])
    assert np.abs(moves).max() <= 0.5 + 0.02
    assert np.abs(moves).max() > 0.2  # the shifts are drawn, not always zero
    assert len({tuple(np.round(move, 4)) for move in moves}) == 8
    np.testing.assert_array_equal(shifted_bicubic(blob, 4, np.random.default_rng(0), max_shift=0.0), bicubic(blob, 4))


def test_blur_is_a_gaussian_of_sigma_hr_pixels_with_replicated_edges() -> None:
    hr = _noise((32, 32, 1))
    expected = gaussian_filter(hr[:, :, 0], 1.6, mode="nearest", truncate=3.0)
    # cv2's and scipy's Gaussians agree up to the kernel's truncation and rounding.
    np.testing.assert_allclose(
        blur_bicubic(hr, 1, sigma=1.6)[:, :, 0], expected, atol=2e-3
    )


def test_unknown_degradation_names_the_option_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"data\.degradation='jpeg'.*bicubic.*blur_bicubic.*noise.*shift"):
        make_degradation("jpeg")
    with pytest.raises(ValueError, match=r"data\.blur_sigma=0"):
        make_degradation("blur_bicubic", blur_sigma=0)
    with pytest.raises(ValueError, match=r"data\.noise_sigma=-1"):
        make_degradation("noise", noise_sigma=-1)


def test_make_degradation_binds_the_settings() -> None:
    hr = np.full((32, 32, 1), 0.5, np.float32)
    quiet = make_degradation("noise", noise_sigma=1.0)(hr, 4, np.random.default_rng(0))
    loud = make_degradation("noise", noise_sigma=20.0)(hr, 4, np.random.default_rng(0))
    assert 10 < loud.std() / quiet.std() < 30
