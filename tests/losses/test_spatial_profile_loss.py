import math

import pytest
import torch

from i2i_zoo.losses import SpatialProfileLoss, profile_similarity


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    # Continuous random values: no row or column is flat, in the images or their differences.
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (4, 3, 5, 9), (2, 3, 12, 7)])
def test_identical_images_reach_the_optimum(shape):
    loss = SpatialProfileLoss()
    x = _images(*shape)
    assert loss.gp(x, x).item() == pytest.approx(12, abs=1e-5)
    assert loss.cp(x, x).item() == pytest.approx(24, abs=1e-5)
    assert loss(x, x).item() == pytest.approx(-36, abs=1e-5)


def test_hand_computed_two_by_three_example():
    x = torch.tensor([[1.0, 2, 2], [0, 3, 4]]).view(1, 1, 2, 3)
    y = torch.tensor([[2.0, 4, 4], [4, 3, 0]]).view(1, 1, 2, 3)
    # Rows: (1,2,2).(2,4,4) / (3 * 6) = 1 and (0,3,4).(4,3,0) / (5 * 5) = 0.36.
    rows = (1 + 0.36) / 2
    # Columns: (1,0).(2,4) / sqrt(20), (2,3).(4,3) / (sqrt(13) * 5), (2,4).(4,0) / (sqrt(20) * 4).
    columns = (2 / math.sqrt(20) + 17 / (5 * math.sqrt(13)) + 8 / (4 * math.sqrt(20))) / 3
    assert profile_similarity(x, y).item() == pytest.approx(rows + columns, rel=1e-6)


def test_similarity_ignores_positive_scaling_of_a_profile():
    x, y = _images(2, 3, 6, 5, seed=1), _images(2, 3, 6, 5, seed=2)
    base = profile_similarity(x, y)
    torch.testing.assert_close(profile_similarity(3.5 * x, y), base)
    torch.testing.assert_close(profile_similarity(x, 0.25 * y), base)
    # A negative scaling flips every profile: the similarity changes sign.
    torch.testing.assert_close(profile_similarity(-x, y), -base)


def test_all_zero_profiles_contribute_nothing():
    x = _images(1, 1, 4, 4)
    zero = torch.zeros_like(x)
    assert profile_similarity(zero, x).item() == 0
    # One zero row: that row's cosine is 0, so the row mean drops by exactly 1/H.
    y = x.clone()
    y[..., 0, :] = 0
    rows_only = (torch.nn.functional.normalize(x, dim=3) * torch.nn.functional.normalize(y, dim=3)).sum(3).mean()
    assert rows_only.item() == pytest.approx(3 / 4, abs=1e-6)


def test_gp_ignores_a_constant_colour_shift_cp_does_not():
    loss = SpatialProfileLoss()
    x = _images(2, 3, 10, 10, seed=3) * 0.7
    shifted = x + torch.tensor([0.2, -0.1, 0.25]).view(1, 3, 1, 1)
    assert loss.gp(shifted, x).item() == pytest.approx(12, abs=1e-5)
    assert loss.cp(shifted, x).item() < 24 - 0.1


def test_weights_scale_and_switch_off_terms():
    x, y = _images(2, 3, 6, 6, seed=4), _images(2, 3, 6, 6, seed=5)
    full = SpatialProfileLoss()
    gp_only = SpatialProfileLoss(rgb_weight=0, yuv_weight=0, yuv_gradient_weight=0)
    assert gp_only.cp(x, y).item() == 0
    torch.testing.assert_close(gp_only(x, y), -full.gp(x, y))
    rgb_only = SpatialProfileLoss(gp_weight=0, yuv_weight=0, yuv_gradient_weight=0)
    torch.testing.assert_close(rgb_only.cp(x, x), torch.tensor(6.0))
    doubled = SpatialProfileLoss(gp_weight=2, rgb_weight=2, yuv_weight=2, yuv_gradient_weight=2)
    torch.testing.assert_close(doubled(x, y), 2 * full(x, y))


def test_gp_and_cp_take_different_targets():
    loss = SpatialProfileLoss()
    x, source, reference = (_images(1, 3, 8, 8, seed=s) for s in (6, 7, 8))
    torch.testing.assert_close(loss(x, source, cp_target=reference), -(loss.gp(x, source) + loss.cp(x, reference)))


def test_gradients_flow_to_the_input():
    x = _images(2, 3, 8, 8, seed=9).requires_grad_()
    y = _images(2, 3, 8, 8, seed=10)
    SpatialProfileLoss()(x, y).backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().gt(0).float().mean() > 0.99


def test_loss_is_float32_under_bf16_autocast():
    x, y = _images(1, 3, 8, 8, seed=11), _images(1, 3, 8, 8, seed=12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = SpatialProfileLoss()(x.bfloat16(), y.bfloat16())
    assert value.dtype == torch.float32


def test_yuv_terms_need_rgb():
    x = _images(1, 1, 8, 8)
    with pytest.raises(ValueError, match="yuv_weight"):
        SpatialProfileLoss().cp(x, x)
    assert SpatialProfileLoss(yuv_weight=0, yuv_gradient_weight=0).cp(x, x).item() == pytest.approx(2, abs=1e-6)


def _naive_similarity(x, y):
    """Eq. 1 with explicit loops over samples, channels, rows and columns."""
    n, c, h, w = x.shape
    total = torch.zeros(n, dtype=torch.float64)
    for i in range(n):
        for k in range(c):
            a, b = x[i, k].double(), y[i, k].double()
            rows = sum(torch.dot(a[r], b[r]) / (a[r].norm() * b[r].norm()) for r in range(h)) / h
            cols = sum(torch.dot(a[:, q], b[:, q]) / (a[:, q].norm() * b[:, q].norm()) for q in range(w)) / w
            total[i] += rows + cols
    return total


def _naive_differences(image):
    h, w = image.shape[-2:]
    horizontal = torch.stack([image[..., :, q + 1] - image[..., :, q] for q in range(w - 1)], -1)
    vertical = torch.stack([image[..., r + 1, :] - image[..., r, :] for r in range(h - 1)], -2)
    return horizontal, vertical


def _naive_yuv(rgb):
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, 0.493 * (b - y), 0.877 * (r - y)], 1)


def test_vectorised_loss_equals_a_naive_loop():
    x, y = _images(3, 3, 7, 9, seed=13), _images(3, 3, 7, 9, seed=14)
    u, v = (x + 1) / 2, (y + 1) / 2

    def gradient_term(a, b):
        (ah, av), (bh, bv) = _naive_differences(a), _naive_differences(b)
        return _naive_similarity(ah, bh) + _naive_similarity(av, bv)

    gp = gradient_term(u, v).mean()
    cp = (_naive_similarity(u, v) + _naive_similarity(_naive_yuv(u), _naive_yuv(v))
          + gradient_term(_naive_yuv(u), _naive_yuv(v))).mean()
    loss = SpatialProfileLoss()
    assert loss.gp(x, y).item() == pytest.approx(gp.item(), rel=1e-5)
    assert loss.cp(x, y).item() == pytest.approx(cp.item(), rel=1e-5)
    assert loss(x, y).item() == pytest.approx(-(gp + cp).item(), rel=1e-5)
