import math
import pickle

import pytest
import torch
import torch.nn as nn

from i2i_zoo.losses import GANLoss, gradient_penalty, r1_penalty

X = torch.tensor([-1.0, 0.0, 2.0])


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# mode -> (d_real, d_fake, g) on X, by hand
EXPECTED = {
    "vanilla": (
        (_softplus(1) + _softplus(0) + _softplus(-2)) / 3,
        (_softplus(-1) + _softplus(0) + _softplus(2)) / 3,
        (_softplus(1) + _softplus(0) + _softplus(-2)) / 3,
    ),
    "lsgan": ((4 + 1 + 1) / 3, (1 + 0 + 4) / 3, (4 + 1 + 1) / 3),
    "wgan": (-1 / 3, 1 / 3, -1 / 3),
    "hinge": ((2 + 1 + 0) / 3, (0 + 1 + 3) / 3, -1 / 3),
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_loss_terms_match_hand_computed_values(mode):
    loss = GANLoss(mode)
    got = (loss.d_real(X).item(), loss.d_fake(X).item(), loss.g(X).item())
    assert got == pytest.approx(EXPECTED[mode], rel=1e-6)


def test_softplus_is_vanilla():
    loss = GANLoss("softplus")
    assert loss.mode == "vanilla"
    assert (loss.d_real(X).item(), loss.d_fake(X).item(), loss.g(X).item()) == pytest.approx(EXPECTED["vanilla"])


def test_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match="'wgan-gp'.*vanilla, lsgan, wgan, hinge, softplus"):
        GANLoss("wgan-gp")


def test_list_of_predictions_averages_per_prediction_losses():
    loss = GANLoss("lsgan")
    a, b = torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([[3.0]])
    # per-prediction: 0 and 4, averaged to 2 (a mean over all four elements would give 1)
    assert loss.d_real([a, b]).item() == pytest.approx(2.0)
    assert loss.d_real((a, b)).item() == pytest.approx(2.0)


def test_losses_are_float32_under_bf16_autocast():
    pred = torch.tensor([0.1234, -2.5, 7.0]).bfloat16()
    loss = GANLoss("vanilla")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss.d_fake(pred)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(nn.functional.softplus(pred.float()).mean().item(), rel=1e-6)


def test_gan_loss_pickles():
    assert pickle.loads(pickle.dumps(GANLoss("hinge"))).g(X).item() == pytest.approx(-1 / 3)


def _linear_critic(w: torch.Tensor):
    return lambda x: (x * w).flatten(1).sum(dim=1)


def test_penalties_of_a_linear_critic():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    norm = w.norm().item()
    assert gradient_penalty(_linear_critic(w), real, fake).item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    assert r1_penalty(_linear_critic(w), real).item() == pytest.approx(norm**2, rel=1e-5)


def test_penalties_are_differentiable_wrt_critic_parameters():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4, requires_grad=True)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    (grad_gp,) = torch.autograd.grad(gradient_penalty(_linear_critic(w), real, fake), w)
    (grad_r1,) = torch.autograd.grad(r1_penalty(_linear_critic(w), real), w)
    w_norm = w.detach().norm()
    torch.testing.assert_close(grad_gp, 2 * (w_norm - 1) * w.detach() / w_norm)
    torch.testing.assert_close(grad_r1, 2 * w.detach())


def test_gradient_penalty_interpolates_per_sample_and_detaches_fake():
    torch.manual_seed(0)
    real = torch.randn(4, 2, 3, 3)
    fake = torch.randn(4, 2, 3, 3, requires_grad=True)
    torch.manual_seed(1)
    gp = gradient_penalty(lambda x: (x**2).flatten(1).sum(dim=1), real, fake)
    torch.manual_seed(1)
    alpha = torch.rand(4, 1, 1, 1)
    x_hat = alpha * real + (1 - alpha) * fake.detach()
    expected = ((2 * x_hat).flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    gp.backward()
    assert fake.grad is None  # nothing reaches the generator through the fakes


def _conv_critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Softplus(), nn.Conv2d(8, 1, 3))


def _images() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(2)
    return torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)


def test_penalties_ignore_bf16_autocast():
    critic = _conv_critic()
    real, fake = _images()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # the region would lower the critic's precision
        torch.manual_seed(3)
        gp_bf16 = gradient_penalty(critic, real.bfloat16(), fake.bfloat16())
        r1_bf16 = r1_penalty(critic, real.bfloat16())
    torch.manual_seed(3)
    gp = gradient_penalty(critic, real.bfloat16(), fake.bfloat16())
    r1 = r1_penalty(critic, real.bfloat16())
    assert gp_bf16.dtype == r1_bf16.dtype == torch.float32
    assert gp_bf16.item() == pytest.approx(gp.item(), rel=1e-6)
    assert r1_bf16.item() == pytest.approx(r1.item(), rel=1e-6)


def _penalty_grads(scaler: torch.amp.GradScaler | None) -> list[torch.Tensor]:
    critic = _conv_critic()
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    real, fake = _images()
    torch.manual_seed(3)
    loss = 10 * gradient_penalty(critic, real, fake) + 5 * r1_penalty(critic, real)
    if scaler is None:
        loss.backward()
    else:
        scaled = scaler.scale(loss)
        assert scaled.item() == pytest.approx(1024 * loss.item())  # the scaler is active on CPU
        scaled.backward()
        scaler.unscale_(opt)
    # the output bias does not change input gradients, so it gets no gradient
    return [p.grad.clone() for p in critic.parameters() if p.grad is not None]


def test_penalty_gradients_survive_loss_scaling():
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    plain, unscaled = _penalty_grads(None), _penalty_grads(scaler)
    assert len(plain) == len(unscaled) == 3
    assert all(g.abs().sum() > 0 for g in plain)
    for a, b in zip(plain, unscaled):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_wgan_terms_are_the_signed_means_bit_for_bit(dtype):
    """Methods written as -D(x).mean() (GANimation's original code) move to GANLoss("wgan")
    without changing a bit: negation commutes exactly with the mean, in value and gradient."""
    loss = GANLoss("wgan")
    for seed in range(5):
        pred = (torch.randn(3, 1, 7, 5, generator=torch.Generator().manual_seed(seed)) * 10**seed).to(dtype)
        for term, formula in ((loss.d_real, lambda x: -x.float().mean()), (loss.d_fake, lambda x: x.float().mean()),
                              (loss.g, lambda x: -x.float().mean())):
            a, b = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
            got, expected = term(a) * 0.3, formula(b) * 0.3
            got.backward()
            expected.backward()
            assert torch.equal(got, expected) and torch.equal(a.grad, b.grad)
