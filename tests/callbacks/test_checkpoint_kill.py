"""A process killed (SIGKILL: no cleanup runs) while it rewrites a checkpoint leaves the previous
checkpoint byte-identical and loadable; its partial file goes at the next save into the folder."""

import subprocess
import sys
import time

import torch

from i2i_zoo.callbacks import AtomicCheckpointIO

# Rewrites argv[1], and stops for good once the new bytes are written, before they are renamed
# into place (in fsync), after touching argv[2]: the moment to kill it.
REWRITER = """
import os, sys, time, torch
from i2i_zoo.callbacks import AtomicCheckpointIO
def stop(fd):
    open(sys.argv[2], "w").close()
    time.sleep(600)
os.fsync = stop
AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2**20)}, "epoch": 2}, sys.argv[1])
"""


def test_a_save_killed_before_its_rename_leaves_the_previous_checkpoint_intact(tmp_path):
    target, written = tmp_path / "last.ckpt", tmp_path / "written"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(4)}, "epoch": 1}, target)
    previous = target.read_bytes()
    process = subprocess.Popen([sys.executable, "-c", REWRITER, str(target), str(written)])
    try:
        deadline = time.monotonic() + 120
        while not written.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the rewriting process did not get to its rename"
            time.sleep(0.05)
    finally:
        process.kill()  # SIGKILL
        process.wait()
    partial = tmp_path / ".last.ckpt.partial"
    assert partial.stat().st_size > 4 * 2**20  # the new checkpoint, written but never renamed
    assert target.read_bytes() == previous
    assert torch.load(target, weights_only=True)["epoch"] == 1
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "epoch": 3}, tmp_path / "next.ckpt")
    assert not partial.exists()
