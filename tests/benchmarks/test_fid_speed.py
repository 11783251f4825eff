"""Smoke test of benchmarks/fid_speed.py: at tiny settings on the CPU, our FID and torch-fidelity's
are both computed, from the same pixels and weights, and agree."""

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fid_speed.py"


def load_benchmark():
    """The script as a module, from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("fid_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core runner, two OpenMP threads make the 2048 x 2048
    eigenproblems several times slower whenever another process holds a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fid_speed_agrees_with_torch_fidelity(one_thread, capsys):
    # No warm-up and no distance-step timing: each 2048-dimensional eigenproblem costs seconds.
    args = ["--num-images", "4", "--size", "32", "--device", "cpu", "--warmup-images", "0", "--distance-repeats", "0"]
    results = load_benchmark().main(args)
    ours, theirs = results["ours"]["fid"], results["torch_fidelity"]["fid"]
    assert ours > 1 and theirs > 1  # two different image sets: far from zero
    assert abs(ours - theirs) <= 1e-3 * theirs
    assert results["agree"] and results["relative_difference"] <= 1e-3
    assert results["ours"]["seconds"] > 0 and results["torch_fidelity"]["seconds"] > 0
    assert "torch-fidelity" in capsys.readouterr().out
