import io
import random

import numpy as np
import pytest
import torch
from torch import nn

from i2i_zoo.methods.optimizers import LinearDecay

from i2i_zoo.methods.base import (
    _get_rng_state,
    _set_rng_state,
    frozen,
    train_mode_without_stat_updates,
    translate_any_size,
)


def test_linear_decay_matches_the_original_rule():
    rule = LinearDecay(n_constant=3, n_decay=4)
    factors = [rule(epoch) for epoch in range(7)]
    # Constant for 3 epochs, then 1 - k/5 for k = 1..4, ending at 1/(n_decay + 1).
    assert factors == pytest.approx([1, 1, 1, 0.8, 0.6, 0.4, 0.2])


def test_translate_any_size_pads_to_the_multiple_and_crops_back():
    seen = []

    def fn(x):
        seen.append(tuple(x.shape[-2:]))
        return x * 2

    images = torch.rand(2, 3, 37, 50) * 2 - 1
    out = translate_any_size(fn, images, multiple=16)
    assert seen == [(48, 64)]
    assert out.shape == images.shape
    torch.testing.assert_close(out, images * 2)
    # Smaller than the padding: reflect is impossible, replicate is used.
    tiny = torch.rand(1, 1, 5, 3)
    assert translate_any_size(lambda x: x, tiny, multiple=16).shape == tiny.shape


def test_train_mode_without_stat_updates_keeps_running_statistics_and_modes():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    net.eval()
    before = net[1].running_mean.clone()
    with train_mode_without_stat_updates(net):
        assert net.training and net[2].training
        out_a = net(torch.randn(4, 3, 8, 8) + 5)
    assert not net.training and not net[1].training and net[1].track_running_stats
    torch.testing.assert_close(net[1].running_mean, before)
    # Batch statistics were used: the per-channel mean of the normalised output is ~0 (before dropout scaling).
    assert out_a.shape == (4, 4, 6, 6)


def test_rng_state_round_trips_through_a_weights_only_checkpoint():
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = _get_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    buffer = io.BytesIO()
    torch.save({"rng": state}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["rng"]
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    _set_rng_state(loaded)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_frozen_stops_parameter_gradients_but_not_input_gradients():
    critic, other = nn.Linear(4, 1), nn.Linear(4, 4)
    other.bias.requires_grad_(False)
    x = torch.randn(3, 4, requires_grad=True)
    with frozen(critic, other):
        assert not any(p.requires_grad for p in [*critic.parameters(), *other.parameters()])
        critic(x).sum().backward()
    assert critic.weight.grad is None and x.grad is not None
    # Flags are restored as they were, including a parameter that was frozen before.
    assert critic.weight.requires_grad and other.weight.requires_grad and not other.bias.requires_grad
