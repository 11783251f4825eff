"""StarGAN's domain classification loss and GANimation's condition regression against
independently computed references: exclusive vs attributes, float32, gradients."""

import math

import pytest
import torch

from i2i_zoo.losses import condition_regression_loss, domain_classification_loss

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])


def _log_sigmoid(v):
    return -math.log1p(math.exp(-v))


def test_exclusive_domains_are_cross_entropy():
    labels = torch.tensor([0, 2])
    by_hand = []
    for row, k in zip(LOGITS.tolist(), labels.tolist()):
        by_hand.append(-(row[k] - math.log(sum(math.exp(v) for v in row))))
    assert domain_classification_loss(LOGITS, labels, "exclusive").item() == pytest.approx(sum(by_hand) / 2)


def test_attributes_are_binary_cross_entropy_summed_over_attributes_and_averaged_over_the_batch():
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    per_image = [
        -sum(_log_sigmoid(v) if y else _log_sigmoid(-v) for v, y in zip(row, ys))
        for row, ys in zip(LOGITS.tolist(), labels.tolist())
    ]
    assert domain_classification_loss(LOGITS, labels, "attributes").item() == pytest.approx(sum(per_image) / 2)
    # Not the mean over attributes: 3x the per-element mean torch's default reduction gives.
    mean = torch.nn.functional.binary_cross_entropy_with_logits(LOGITS, labels)
    assert domain_classification_loss(LOGITS, labels, "attributes").item() == pytest.approx(3 * mean.item())


@pytest.mark.parametrize(("label_type", "labels"), [("exclusive", torch.tensor([1, 0])), ("attributes", torch.tensor([[1.0, 1, 0], [0, 0, 1]]))])
def test_classification_is_float32_and_differentiable(label_type, labels):
    logits = LOGITS.bfloat16().requires_grad_(True)
    loss = domain_classification_loss(logits, labels, label_type)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    expected = domain_classification_loss(LOGITS.bfloat16().float(), labels, label_type)
    assert loss.item() == pytest.approx(expected.item())


def test_unknown_label_type():
    with pytest.raises(ValueError, match="label_type='continuous' is unknown; choose one of \\('attributes', 'exclusive'\\)"):
        domain_classification_loss(LOGITS, torch.tensor([0, 1]), "continuous")


def test_condition_regression_is_the_mse_divided_by_the_batch_size_once_more():
    predicted, target = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.zeros(2, 2)
    # squared errors 1, 4, 0, 0: MSE 5/4, / batch size 2
    assert condition_regression_loss(predicted, target).item() == pytest.approx(5 / 4 / 2)
    predicted = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]], requires_grad=True)
    target = torch.tensor([[0.5, 2.0], [1.0, 0.0], [3.0, 0.0]])
    assert condition_regression_loss(predicted.half(), target).dtype == torch.float32
    loss = condition_regression_loss(predicted, target)
    assert loss.item() == pytest.approx((0.25 + 0 + 1 + 0 + 0 + 1) / 6 / 3)
    loss.backward()
    assert torch.allclose(predicted.grad, 2 * (predicted.detach() - target) / 6 / 3)
