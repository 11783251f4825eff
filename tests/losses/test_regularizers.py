"""total_variation against hand-computed values: powers, reductions, dimensions, dtypes, gradients."""

import pytest
import torch

from i2i_zoo.losses import total_variation

# 2x3 map: horizontal differences |0-1|, |1-.5|, |1-1|, |1-0| = 1, .5, 0, 1;
# vertical |0-1|, |1-1|, |.5-0| = 1, 0, .5.
MASK = torch.tensor([[[[0.0, 1.0, 0.5], [1.0, 1.0, 0.0]]]])
HORIZONTAL, VERTICAL = [1.0, 0.5, 0.0, 1.0], [1.0, 0.0, 0.5]


def _by_hand(power, reduction):
    h, v = [d**power for d in HORIZONTAL], [d**power for d in VERTICAL]
    return sum(h) + sum(v) if reduction == "sum" else sum(h) / len(h) + sum(v) / len(v)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5, 3])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_matches_a_hand_computation(power, reduction):
    assert total_variation(MASK, power, reduction).item() == pytest.approx(_by_hand(power, reduction))


def test_default_is_ganimations_smoothness_term():
    # The sum of |differences| over both directions (the original GANimation code's term).
    assert total_variation(MASK).item() == pytest.approx(4.0)


def test_sums_over_batch_and_channels_and_mean_does_not_grow_with_them():
    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    per_map = [total_variation(x[n, c]) for n in range(2) for c in range(3)]
    assert total_variation(x).item() == pytest.approx(sum(per_map).item(), rel=1e-6)
    tiled = x.repeat(4, 2, 1, 1)
    assert total_variation(tiled, reduction="mean").item() == pytest.approx(total_variation(x, reduction="mean").item(), rel=1e-6)


def test_works_on_any_leading_dimensions_and_a_side_of_one():
    row = torch.tensor([[0.0, 2.0, 1.0]])  # one row: no vertical pairs
    assert total_variation(row).item() == pytest.approx(3.0)
    assert total_variation(row, reduction="mean").item() == pytest.approx(1.5)
    assert total_variation(row[0].reshape(3, 1), power=2).item() == pytest.approx(5.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_computed_in_float32(dtype):
    out = total_variation(MASK.to(dtype), power=2.0)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(_by_hand(2.0, "sum"))


def test_gradient_flows_to_the_input():
    x = torch.tensor([[0.0, 2.0], [1.0, 5.0]], requires_grad=True)
    total_variation(x, power=2.0).backward()
    # d/dx of (x01-x00)^2 + (x11-x10)^2 + (x10-x00)^2 + (x11-x01)^2
    assert torch.allclose(x.grad, torch.tensor([[-2 * 2.0 - 2 * 1.0, 2 * 2.0 - 2 * 3.0], [-2 * 4.0 + 2 * 1.0, 2 * 4.0 + 2 * 3.0]]))


@pytest.mark.parametrize("power", [0, -1.0, float("nan")])
def test_power_must_be_positive(power):
    with pytest.raises(ValueError, match="power > 0"):
        total_variation(MASK, power=power)


def test_unknown_reduction_and_too_few_dimensions():
    with pytest.raises(ValueError, match="'none' is unknown; choose one of \\('sum', 'mean'\\)"):
        total_variation(MASK, reduction="none")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        total_variation(torch.ones(3))
