"""Metric states sync across two CPU processes: each rank sees half the images, both log the
values one process computes over all of them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_metrics_script.py")


def test_two_processes_log_the_single_process_metrics(tmp_path):
    from ddp_metrics_script import run

    single, _, callback = run(devices=1)
    assert callback.extractor.calls == 16  # 8 batches of 8: fakes and reals

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in reports:
        assert report["extractor_calls"] == 8  # half the batches
        assert report["metrics"].keys() == single.keys()
        for key, value in single.items():
            assert report["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
