"""Two-process DDP fit on CPU (gloo), through the console script as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path

import torch

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_two_process_ddp_fit_and_resume_on_cpu(tmp_path):
    script = Path(sys.executable).with_name("i2i-zoo")
    command = [
        str(script), "fit", "-c", str(RECIPES / "quickstart.yaml"),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        # A GAN's discriminator takes no part in the generator step: DDP must allow unused parameters.
        "--trainer.strategy", "ddp_find_unused_parameters_true",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--model.init_args.ngf", "8", "--model.init_args.ndf", "8", "--data.num_workers", "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stderr + result.stdout
    last = tmp_path / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    # Written once, by rank 0, holding both ranks' data streams.
    assert len(list((tmp_path / "runs").rglob("last.ckpt"))) == 1
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["i2i_zoo"]["iteration"] == 2  # each rank ran 2 batches
    streams = state["PairedDataModule"]["train_generators"]
    assert streams.shape[0] == 2 and not torch.equal(streams[0], streams[1])

    resume = [*command, "--trainer.max_epochs", "2", "--ckpt_path", str(last)]
    result = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "runs" / "quickstart" / "version_1" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["i2i_zoo"]["iteration"] == 4 and state["epoch"] == 1
