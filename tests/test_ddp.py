"""Distributed training on CPU (gloo) with the `ddp_gan` strategy: two "nodes" under torchrun
train every method in step, and a two-process CycleGAN run through the console script, as a
user runs it, resumes exactly (every rank's data stream, RNG states and image pools)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from i2i_zoo.methods import METHODS as REGISTERED

TESTS = Path(__file__).resolve().parent
RECIPES = TESTS.parent / "recipes"
WORKER = TESTS / "ddp_worker.py"
# What the worker fits: every registered method, so every family and datamodule, and the
# two-phase test method, whose G is frozen in the first iteration and trains in the second.
METHODS = [*REGISTERED, "PhasedMethod"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_together(commands: list[list[str]], logs: list[Path], timeout: float, **options) -> list[int]:
    """Run the commands at once, stdout and stderr to `logs`; their exit codes. When one fails
    or `timeout` seconds pass, end them all (a rank left alone would wait for its peer until
    gloo's 30 min timeout), with the processes they started (DDP ranks, torchrun workers).
    Processes still running at the timeout first print every thread's stack to their log
    (faulthandler on SIGABRT), so a hang shows where it waited."""
    options["env"] = {**options.get("env", os.environ), "PYTHONFAULTHANDLER": "1"}
    processes = []
    for command, log in zip(commands, logs):
        with open(log, "w") as file:
            processes.append(subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT, start_new_session=True, **options))
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            if any(p.returncode not in (None, 0) for p in processes):
                break
            time.sleep(0.2)
        hung = [p for p in processes if p.poll() is None]
        for p in hung:
            try:
                os.killpg(p.pid, signal.SIGABRT)
            except ProcessLookupError:
                pass  # it ended meanwhile
        if hung:
            time.sleep(5)
    finally:
        for p in processes:
            try:  # the command's process group (new session): it and what it started
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # all of them have exited
            p.wait()
    return [p.returncode for p in processes]


def _tails(logs: list[Path], chars: int = 12000) -> str:
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-chars:]}" for log in logs)


def test_two_torchrun_nodes_train_every_method_in_step(tmp_path):
    port = _free_port()
    commands = [
        [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
            "--node-rank", str(node), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
            # Both "nodes" are this machine: name the one that hosts the rendezvous store, and
            # the loopback address for the processes to meet at.
            "--rdzv-conf", f"is_host={int(node == 0)}", "--local-addr", "127.0.0.1",
            str(WORKER), str(tmp_path),
        ]
        for node in (0, 1)
    ]
    logs = [tmp_path / f"node{node}.log" for node in (0, 1)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    codes = _run_together(commands, logs, timeout=240, cwd=tmp_path, env=env)
    assert codes == [0, 0], f"torchrun exit codes {codes} (-6 or -9: ended at the timeout)\n{_tails(logs)}"

    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert list(ranks[0]) == list(ranks[1]) == METHODS
    for method in METHODS:
        first, second = ranks[0][method], ranks[1][method]
        assert first["iteration"] == second["iteration"] == 2, method
        assert first["initial"] == second["initial"], f"{method}: the ranks built different initial weights"
        for network, parameters in first["trained"].items():
            differ = [name for name, value in parameters.items() if second["trained"][network][name] != value]
            assert not differ, f"{method}.{network}: the ranks hold different weights after the steps: {differ}"
            assert parameters != first["initial"][network], f"{method}.{network} was not updated"
        # Per-rank seeds: the ranks drew different torch, numpy and Python random numbers.
        assert all(a != b for a, b in zip(first["draws"], second["draws"])), (method, first["draws"], second["draws"])


def _same_rng_state(a: dict, b: dict) -> bool:
    return (
        torch.equal(a["torch"], b["torch"])
        and torch.equal(a["numpy"][0], b["numpy"][0])
        and list(a["numpy"][1:]) == list(b["numpy"][1:])
        and a["python"] == b["python"]
    )


def test_two_process_ddp_fit_and_resume_on_cpu(tmp_path):
    script = Path(sys.executable).with_name("i2i-zoo")
    command = [
        str(script), "fit", "-c", str(RECIPES / "cyclegan" / "demo.yaml"), "-c", str(RECIPES / "ddp.yaml"),
        "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--data.num_workers", "1",  # persistent, as by default
    ]
    # PYTHONPATH: the resumed run loads a callback from the worker module.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path / "fit.log"
    codes = _run_together([command], [log], timeout=240, cwd=tmp_path, env=env)
    assert codes == [0], f"exit code {codes[0]} (-6 or -9: ended at the timeout)\n{_tails([log])}"
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in log.read_text()
    last = tmp_path / "runs" / "cyclegan_demo" / "version_0" / "checkpoints" / "last.ckpt"
    # Written once, by rank 0, holding both ranks' data streams, RNG states and pools.
    assert len(list((tmp_path / "runs").rglob("last.ckpt"))) == 1
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["i2i_zoo"]["iteration"] == 2  # each rank ran 2 batches
    streams = state["UnpairedDataModule"]["train_generators"]
    assert streams.shape[0] == 2 and not torch.equal(streams[0], streams[1])
    saved = state["i2i_zoo"]["rng"]
    assert len(saved) == 2 and not _same_rng_state(saved[0], saved[1]), "the ranks' RNGs should differ (per-rank seeds)"
    pools = state["i2i_zoo"]["pools"]
    assert [tuple(pool["A"]["images"].shape) for pool in pools] == [(8, 3, 32, 32)] * 2  # 2 batches of 4
    assert not torch.equal(pools[0]["A"]["images"], pools[1]["A"]["images"])

    probe = ["--trainer.callbacks+=ddp_worker.StateProbe", "--trainer.callbacks.output_dir", str(tmp_path)]
    resume = [*command, "--trainer.max_epochs", "2", "--ckpt_path", str(last), *probe]
    log = tmp_path / "resume.log"
    codes = _run_together([resume], [log], timeout=240, cwd=tmp_path, env=env)
    assert codes == [0], f"exit code {codes[0]} (-6 or -9: ended at the timeout)\n{_tails([log])}"
    state = torch.load(tmp_path / "runs" / "cyclegan_demo" / "version_1" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["i2i_zoo"]["iteration"] == 4 and state["epoch"] == 1
    # Each rank continued from its own saved RNG states and pools.
    for rank in (0, 1):
        restored = torch.load(tmp_path / f"state_rank{rank}.pt", weights_only=True)
        assert _same_rng_state(restored["rng"], saved[rank]), f"rank {rank} did not restore its own RNG states"
        for name in "AB":
            assert torch.equal(restored["pools"][name]["images"], pools[rank][name]["images"]), f"rank {rank} pool {name}"
