"""BigGAN's networks against the reference, ajbrock/BigGAN-PyTorch.

The fixture tests/fixtures/biggan/ was made with the reference at commit
98459431a5d618d644d54cd1e9fceb1e5045648d (its BigGAN.py and layers.py, run under torch 2.14 without
changes), by a script kept outside this repository (the reference's code is not copied here):

- G: `Generator(resolution=64, G_ch=2, dim_z=20, shared_dim=8, hier=True, G_shared=True,
  n_classes=5, G_attn='32', SN_eps=1e-6, BN_eps=1e-5, skip_init=True)`: four blocks, z in five
  chunks of 4, self-attention after the 32 px block (8 channels).
- D: `Discriminator(resolution=64, D_ch=2, n_classes=5, D_attn='8', SN_eps=1e-6, skip_init=True)`:
  self-attention after the 8 px block (8 channels; at 32 px D has 2 channels, too few for
  attention, and a D wide enough for it there would make the fixture megabytes).
- attention: a lone `layers.Attention(16)` (SN convs, eps 1e-6), for 2-channel queries and keys.
- Seed 0; weights as PyTorch initialises them (skip_init), then random attention gammas
  (N(1, 0.5)), output-BN gains and biases, stored BN means (N(0, 0.3)) and variances
  (U(0.25, 1.75)), u vectors (N(0, 1)) and sv values (U(0.5, 1.5)). Saved: the state dicts
  (`G.pth`, `D.pth`, `attention.pth`, in the reference's format) and, in `reference_outputs.pth`,
  z (2, 20), y = [1, 4] and a (2, 16, 8, 8) attention input; the outputs in eval mode (G's images,
  which are also D's input, D's scores, the attention block's output); then the outputs of one
  forward in train mode and every buffer after it (updated u0/sv0 and stored statistics).
"""

import math
from pathlib import Path

import pytest
import torch

from i2i_zoo.nets.biggan import BigGANDiscriminator, BigGANGenerator, SelfAttention, SNLinear

FIXTURE = Path(__file__).parents[1] / "fixtures" / "biggan"
REFERENCE_COMMIT = "98459431a5d618d644d54cd1e9fceb1e5045648d"
G_CONFIG = {"resolution": 64, "ch": 2, "dim_z": 20, "shared_dim": 8, "hier": True, "n_classes": 5, "attention": (32,)}
D_CONFIG = {"resolution": 64, "ch": 2, "n_classes": 5, "attention": (8,)}


def _load(name):
    return torch.load(FIXTURE / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def reference():
    return _load("reference_outputs.pth")


def _networks():
    G = BigGANGenerator(**G_CONFIG, skip_init=True)
    D = BigGANDiscriminator(**D_CONFIG, skip_init=True)
    A = SelfAttention(16)
    G.load_state_dict(_load("G.pth"), strict=True)
    D.load_state_dict(_load("D.pth"), strict=True)
    A.load_state_dict(_load("attention.pth"), strict=True)
    return G, D, A


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_eval_mode_matches_the_reference_and_changes_nothing(reference):
    G, D, A = _networks()
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in (G, D, A)]
    with torch.no_grad():
        G.eval(), D.eval(), A.eval()
        _close(G(reference["z"], reference["y"]), reference["G_eval"])
        _close(D(reference["G_eval"], reference["y"]), reference["D_eval"])
        _close(A(reference["attention_input"]), reference["attention_eval"])
    for net, state in zip((G, D, A), before):
        for key, value in net.state_dict().items():
            assert torch.equal(value, state[key]), key


def test_one_train_mode_forward_matches_the_reference(reference):
    G, D, A = _networks()
    with torch.no_grad():
        _close(G.train()(reference["z"], reference["y"]), reference["G_train"])
        _close(D.train()(reference["G_eval"], reference["y"]), reference["D_train"])
        _close(A.train()(reference["attention_input"]), reference["attention_train"])
    for net, name in ((G, "G"), (D, "D"), (A, "attention")):
        expected = reference[f"{name}_buffers_after_train"]
        buffers = dict(net.named_buffers())
        assert buffers.keys() == expected.keys()
        for key, value in buffers.items():
            _close(value, expected[key])
    # the forward did update: u0 moved and sv0 holds the new estimate
    assert not torch.allclose(G.linear.u0, _load("G.pth")["linear.u0"])


def test_power_iteration_by_hand():
    # W = [[2, 0], [0, 1], [1, 1]], u = [1, 0, 0]: v = uW / |uW| = [1, 0]; u' = vW^T / |vW^T| =
    # [2, 0, 1] / sqrt(5); sigma = v W^T u'^T = sqrt(5).
    layer = SNLinear(2, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        layer.u0.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
    x = torch.tensor([[1.0, 2.0]])
    layer.eval()
    out = layer(x)
    _close(out, x @ layer.weight.t() / math.sqrt(5))
    assert torch.equal(layer.u0, torch.tensor([[1.0, 0.0, 0.0]])) and torch.equal(layer.sv0, torch.ones(1))
    layer.train()
    _close(layer(x), out)
    _close(layer.u0, torch.tensor([[2.0, 0.0, 1.0]]) / math.sqrt(5))
    _close(layer.sv0, torch.tensor([math.sqrt(5)]))
    # a second train-mode iteration starts from the updated u
    u = layer.u0.clone()
    v = u @ layer.weight / (u @ layer.weight).norm()
    u_next = v @ layer.weight.t() / (v @ layer.weight.t()).norm()
    sigma = (v @ layer.weight.t() @ u_next.t()).item()
    _close(layer(x), x @ layer.weight.t() / sigma)
    _close(layer.u0, u_next)
    _close(layer.sv0, torch.tensor([sigma]))


def test_two_singular_values_by_hand():
    # num_svs=2: the second pair is Gram-Schmidt-orthogonalised against the first; W is divided by the first.
    torch.manual_seed(0)
    layer = SNLinear(4, 3, bias=False, num_svs=2).train()
    W, u0, u1 = layer.weight.detach().clone(), layer.u0.clone(), layer.u1.clone()
    v0 = u0 @ W / (u0 @ W).norm()
    new_u0 = v0 @ W.t() / (v0 @ W.t()).norm()
    v1 = u1 @ W
    v1 = v1 - (v0 @ v1.t()) * v0 / (v0 @ v0.t())
    v1 = v1 / v1.norm()
    new_u1 = v1 @ W.t()
    new_u1 = new_u1 - (new_u0 @ new_u1.t()) * new_u0 / (new_u0 @ new_u0.t())
    new_u1 = new_u1 / new_u1.norm()
    x = torch.randn(2, 4)
    sigma0 = (v0 @ W.t() @ new_u0.t()).item()
    _close(layer(x), x @ W.t() / sigma0)
    _close(layer.u0, new_u0)
    _close(layer.u1, new_u1)
    _close(layer.sv1, (v1 @ W.t() @ new_u1.t()).reshape(1))


def test_mixed_precision_keeps_spectral_norm_in_float32():
    torch.manual_seed(0)
    G = BigGANGenerator(32, ch=2, dim_z=8, shared_dim=4, n_classes=2, attention=(16,)).eval()
    reference_sigma = G.linear.singular_values()[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sigma = G.linear.singular_values()[0]
        images = G.train()(torch.randn(2, 8), torch.tensor([0, 1]))
    assert sigma.dtype == torch.float32 and torch.equal(sigma, reference_sigma)
    assert torch.isfinite(images).all() and G.linear.u0.dtype == torch.float32


def test_spectral_norm_gradient_flows_through_sigma_only():
    torch.manual_seed(0)
    layer = SNLinear(4, 3, bias=False).eval()
    weight = layer.weight.detach().clone().requires_grad_(True)
    u = layer.u0.clone()
    with torch.no_grad():
        v = torch.nn.functional.normalize(u @ weight)
        u = torch.nn.functional.normalize(v @ weight.t())
    expected = weight / (v @ weight.t() @ u.t()).squeeze()
    x = torch.randn(5, 4)
    (x @ expected.t()).sum().backward()
    layer(x).sum().backward()
    _close(layer.weight.grad, weight.grad)


def test_128px_imagenet_model_parameter_counts():
    # BigGAN-PyTorch's 128 px ImageNet model (ch 96, attention at 64, dim_z 120, shared_dim 128); built
    # once, never run, with PyTorch's default init (orthogonal init of 158M weights takes a minute).
    G = BigGANGenerator(skip_init=True)
    assert sum(p.numel() for p in G.parameters()) == 70_433_988
    assert (G.dim_z, G.n_classes, G.resolution, G.z_chunk_size, G.attention) == (120, 1000, 128, 20, (64,))
    del G
    D = BigGANDiscriminator(skip_init=True)
    assert sum(p.numel() for p in D.parameters()) == 87_982_370
    assert not any(key.endswith("num_batches_tracked") for key in D.state_dict())


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_and_range(resolution):
    torch.manual_seed(0)
    attention = (16,) if resolution == 32 else (32,)
    G = BigGANGenerator(resolution, ch=2, dim_z=24, shared_dim=8, n_classes=3, attention=attention, skip_init=True)
    d_attention = (8,) if resolution == 64 else (16,)  # where D has 8 channels or more
    D = BigGANDiscriminator(resolution, ch=2, n_classes=3, attention=d_attention, skip_init=True)
    assert G.attention == attention and D.attention == d_attention
    assert G.dim_z == 24 - 24 % (len(G.blocks) + 1)
    z, y = torch.randn(2, G.dim_z), torch.tensor([0, 2])
    images = G(z, y)
    assert images.shape == (2, 3, resolution, resolution)
    assert images.abs().max() <= 1
    assert D(images, y).shape == (2,)


def test_512px_generator_and_no_512px_discriminator():
    G = BigGANGenerator(512, ch=1, dim_z=16, shared_dim=4, n_classes=2, attention=(), skip_init=True)
    assert len(G.blocks) == 7 and G.dim_z == 16
    with pytest.raises(ValueError, match="32, 64, 128, 256"):
        BigGANDiscriminator(512, ch=1)


def test_not_hierarchical_and_per_layer_embeddings():
    G = BigGANGenerator(32, ch=2, dim_z=10, shared_dim=0, hier=False, n_classes=3, attention=())
    assert G.shared.weight.shape == (3, 10) and G.blocks[0][0].bn1.gain.weight.shape == (8, 10)
    assert G(torch.randn(2, 10), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    G = BigGANGenerator(32, ch=2, dim_z=10, hier=False, shared=False, n_classes=3, attention=())
    assert G.blocks[0][0].bn1.gain.weight.shape == (3, 8)
    assert G(torch.randn(2, 10), torch.tensor([0, 1])).shape == (2, 3, 32, 32)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G = BigGANGenerator(32, ch=2, dim_z=16, shared_dim=4, n_classes=3, attention=(16,))
    D = BigGANDiscriminator(32, ch=2, n_classes=3, attention=(16,))
    with torch.no_grad():  # gamma starts at 0, which would cut the attention convs off
        for net in (G, D):
            for name, p in net.named_parameters():
                if name.endswith("gamma"):
                    p.fill_(0.5)
    y = torch.tensor([0, 1, 2])
    D(G(torch.randn(3, G.dim_z), y), y).mean().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_orthogonal_init_by_default():
    G = BigGANGenerator(32, ch=4, dim_z=16, shared_dim=4, n_classes=3, attention=())
    w = G.blocks[0][0].conv1.weight.reshape(16, -1)
    _close(w @ w.t(), torch.eye(16))
    assert float(G.output_layer[0].gain.detach().sum()) == 16.0
    D = BigGANDiscriminator(32, ch=4, n_classes=3, attention=(), init="N02")
    assert D.blocks[0][0].conv1.weight.std() < 0.05


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="96"):
        BigGANGenerator(96, ch=1)
    with pytest.raises(ValueError, match="powers of two"):
        BigGANGenerator(32, ch=1, attention=(48,))
    with pytest.raises(ValueError, match="8 channels"):
        BigGANGenerator(64, ch=1, dim_z=10, attention=(64,))
    G = BigGANGenerator(32, ch=2, dim_z=8, shared_dim=4, n_classes=2, attention=())
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        G(torch.randn(1, 9), torch.tensor([0]))
    with pytest.raises(ValueError, match="integer class label"):
        G(torch.randn(1, 8), torch.tensor([[0.0, 1.0]]))
