import math

import pytest
import torch

from i2i_zoo.losses import importance_weight, inherited_d_loss, inherited_g_loss, teacher_scores


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# Two images' 1x2 maps of raw discriminator outputs, and the teacher's scores / weights.
REAL = [[0.7, -1.2], [2.0, 0.1]]
FAKE = [[-0.4, 1.5], [0.3, -2.2]]
TEACHER = [0.8, 0.3]
WEIGHT = [2.0, 1.0]


def _maps(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values).view(len(values), 1, 1, -1)


def test_importance_weight_of_a_toy_teacher():
    # T' = 1 - t = [0.8, 0.4, 0.0]; min 0, max 0.8: w = 1 + T' / 0.8 = [2.0, 1.5, 1.0].
    weight = importance_weight(torch.tensor([0.2, 0.6, 1.0]))
    torch.testing.assert_close(weight, torch.tensor([2.0, 1.5, 1.0]))


def test_importance_weight_is_one_when_no_image_is_harder():
    torch.testing.assert_close(importance_weight(torch.tensor([0.4, 0.4, 0.4])), torch.ones(3))
    torch.testing.assert_close(importance_weight(torch.tensor([0.9])), torch.ones(1))


def test_importance_weight_is_detached():
    assert not importance_weight(torch.tensor([0.1, 0.5], requires_grad=True)).requires_grad


def test_teacher_scores_of_a_2x2_map_in_both_modes():
    # sigmoid(0, ln 3, -ln 3, ln 4) = 0.5, 0.75, 0.25, 0.8: mean 0.575.
    logits = torch.tensor([0.0, math.log(3), -math.log(3), math.log(4)]).view(1, 1, 2, 2)
    torch.testing.assert_close(teacher_scores(logits, "vanilla"), torch.tensor([0.575]))
    # Clamped to [0, 1]: 0, 0.3, 0.9, 1: mean 0.55.
    raw = torch.tensor([-0.5, 0.3, 0.9, 1.7], requires_grad=True).view(1, 1, 2, 2)
    scores = teacher_scores(raw, "lsgan")
    torch.testing.assert_close(scores, torch.tensor([0.55]))
    assert not scores.requires_grad


def test_eq4_vanilla_by_hand():
    fake_term = sum(-math.log(1 - _sigmoid(x)) for row in FAKE for x in row) / 4
    real_term = sum(
        -(t * math.log(_sigmoid(x)) + (1 - t) * math.log(1 - _sigmoid(x))) for row, t in zip(REAL, TEACHER) for x in row
    ) / 4
    loss = inherited_d_loss(_maps(REAL), _maps(FAKE), torch.tensor(TEACHER), "vanilla")
    assert loss.item() == pytest.approx(fake_term + real_term, rel=1e-6)


def test_eq4_lsgan_by_hand():
    fake_term = sum(x**2 for row in FAKE for x in row) / 4
    real_term = sum((x - t) ** 2 for row, t in zip(REAL, TEACHER) for x in row) / 4
    loss = inherited_d_loss(_maps(REAL), _maps(FAKE), torch.tensor(TEACHER), "lsgan")
    assert loss.item() == pytest.approx(fake_term + real_term, rel=1e-6)


def test_eq5_vanilla_by_hand():
    per_image = [w / 2 * sum(-math.log(_sigmoid(x)) for x in row) / 2 for row, w in zip(FAKE, WEIGHT)]
    loss = inherited_g_loss(_maps(FAKE), torch.tensor(WEIGHT), "vanilla")
    assert loss.item() == pytest.approx(sum(per_image) / 2, rel=1e-6)


def test_eq5_lsgan_by_hand():
    per_image = [w / 2 * sum((x - 1) ** 2 for x in row) / 2 for row, w in zip(FAKE, WEIGHT)]
    loss = inherited_g_loss(_maps(FAKE), torch.tensor(WEIGHT), "lsgan")
    assert loss.item() == pytest.approx(sum(per_image) / 2, rel=1e-6)


def test_gradients_reach_the_maps_but_not_the_teacher_or_weight():
    real, fake = _maps(REAL).requires_grad_(), _maps(FAKE).requires_grad_()
    teacher, weight = torch.tensor(TEACHER, requires_grad=True), torch.tensor(WEIGHT, requires_grad=True)
    (inherited_d_loss(real, fake, teacher, "vanilla") + inherited_g_loss(fake, weight, "vanilla")).backward()
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0
    assert teacher.grad is None and weight.grad is None


def test_losses_stay_float32_under_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d_loss = inherited_d_loss(_maps(REAL).bfloat16(), _maps(FAKE).bfloat16(), torch.tensor(TEACHER), "vanilla")
        g_loss = inherited_g_loss(_maps(FAKE).bfloat16(), torch.tensor(WEIGHT), "lsgan")
    assert d_loss.dtype == g_loss.dtype == torch.float32


def test_other_modes_and_shapes_are_refused():
    with pytest.raises(ValueError, match="gan_mode 'hinge'.*lsgan, vanilla"):
        inherited_d_loss(_maps(REAL), _maps(FAKE), torch.tensor(TEACHER), "hinge")
    with pytest.raises(ValueError, match="teacher must hold one value per image"):
        inherited_d_loss(_maps(REAL), _maps(FAKE), torch.tensor([0.5]), "lsgan")
    with pytest.raises(ValueError, match="weight must hold one value per image"):
        inherited_g_loss(_maps(FAKE), torch.ones(2, 1), "lsgan")
