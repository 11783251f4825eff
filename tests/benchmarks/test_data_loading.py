"""Smoke test of benchmarks/data_loading.py on the CPU: persistent and fresh workers must yield
the same batches over epochs cut short. Nothing about speed is asserted."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "data_loading.py"


def test_persistent_and_fresh_workers_yield_the_same_batches(capsys):
    spec = importlib.util.spec_from_file_location("data_loading", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        same = module.main(["--size", "32", "--batch-size", "2", "--num-workers", "2", "--epochs", "3", "--max-batches", "3"])
    finally:
        del sys.modules[spec.name]
    out = capsys.readouterr().out
    assert same and "the same batches" in out
    assert out.count("| persistent |") == out.count("| fresh |") == 1
