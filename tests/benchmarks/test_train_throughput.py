"""Smoke test of benchmarks/train_throughput.py on the CPU at tiny sizes: every configuration
runs through Lightning and, for pix2pix and CycleGAN, through the plain loop, whose FLOPs show it
runs the same networks and losses as the method's training_step. Nothing about speed is asserted."""

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


@pytest.fixture(scope="module")
def benchmark():
    """The script as a module, from its file: benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


SMOKE = ["--tiny", "--image-size", "32", "--device", "cpu", "--warmup", "1", "--iterations", "1", "--repeats", "2"]


def test_every_configuration_runs_in_both_loops(benchmark, tmp_path, capsys):
    results = benchmark.main(
        ["--method", "pix2pix", *SMOKE, "--batch-sizes", "2", "--precisions", "32", "bf16-mixed",
         "--channels-last", "off", "on", "--json", str(tmp_path / "results.json")]
    )
    configurations = {(r.loop, r.precision, r.channels_last) for r in results}
    assert configurations == {(loop, p, c) for loop in ("lightning", "plain") for p in ("32", "bf16-mixed") for c in (False, True)}
    for r in results:
        assert r.images_per_s > 0 and r.ms_per_iteration == pytest.approx(1000 * 2 / r.images_per_s)
        assert r.tflops > 0 and r.peak_memory_gib is None  # no GPU memory on the CPU
    assert (tmp_path / "results.json").read_text().count('"loop"') == len(results)
    table = capsys.readouterr().out
    assert table.count("| Pix2Pix | lightning |") == 4 and "plain / lightning" in table


def test_methods_without_a_plain_loop_run_through_lightning_only(benchmark):
    results = benchmark.main(["--method", "stargan", *SMOKE, "--batch-sizes", "2", "--no-flops"])
    assert [(r.method, r.loop, r.tflops) for r in results] == [("StarGAN", "lightning", None)]


@pytest.mark.parametrize("method", ["pix2pix", "cyclegan"])
def test_plain_loop_runs_the_methods_networks_and_losses(benchmark, method):
    """Same FLOPs in one plain iteration as in one of the method's training_step."""
    args = benchmark.parse_args(["--method", method, "--tiny", "--image-size", "32"])
    arguments = benchmark.model_arguments(benchmark.METHODS[method], 32, True, {})

    def make_model():
        torch.manual_seed(0)
        return benchmark.METHODS[method](**arguments)

    batch = benchmark.make_batch(make_model(), 2, args.image_size, False, False)
    lightning_flops = benchmark.count_flops(make_model, batch, torch.device("cpu"))
    model = make_model()
    step = benchmark.plain_step(model, torch.amp.GradScaler("cpu", enabled=False))
    step(batch)  # fills the CycleGAN image pools as the first Lightning iteration does
    with FlopCounterMode(display=False) as counter:
        step(batch)
    assert lightning_flops > 0 and counter.get_total_flops() == lightning_flops


def test_the_gpu_slot_script_parses_and_passes_valid_benchmark_options(benchmark):
    """benchmarks/gpu_slot.sh runs only where a GPU is lent; its syntax and every option it
    gives the benchmark are checked here, so it does not fail in a scarce GPU slot."""
    script = SCRIPT.with_name("gpu_slot.sh")
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    calls = [shlex.split(line)[3:] for line in script.read_text().replace("\\\n", " ").splitlines()
             if line.strip().startswith("bench ")]
    assert len(calls) == 4
    for options in calls:
        args = benchmark.parse_args(options)
        assert args.method in ("pix2pix", "cyclegan")
    assert benchmark.parse_args(calls[-1]).compile_mode == "reduce-overhead"
