"""The notebooks run top to bottom (in their tiny configuration) and show what they promise."""

import json
import math
import re
import sys
import time
from pathlib import Path

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "i2i-zoo-test"


def kernel_manager(folder: Path) -> AsyncKernelManager:
    """A kernel running this interpreter (the project's environment), whatever kernelspecs the
    machine has installed: a kernelspec written into `folder` and nowhere else looked up."""
    spec = folder / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    return AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def run_notebook(path: Path, workdir: Path, timeout: int = 300) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    # The interpreter the kernel ran, checked below.
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel python:', sys.executable)"))
    client = nbclient.NotebookClient(
        nb, km=kernel_manager(workdir / "kernels"), timeout=timeout, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute(cleanup_kc=True)  # raises CellExecutionError naming the cell when one fails
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("I2I_ZOO_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("I2I_ZOO_CACHE", str(tmp_path / "cache"))  # FID features of the real images
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    workdir = tmp_path / "work"
    workdir.mkdir()

    start = time.perf_counter()
    nb = run_notebook(NOTEBOOKS / "quickstart.ipynb", workdir)
    print(f"quickstart.ipynb executed in {time.perf_counter() - start:.1f} s")

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert text_of(code[-1]).strip() == f"kernel python: {sys.executable}"

    printed = "".join(text_of(cell) for cell in code)
    for name in ("val/fid", "val/kid_mean", "val/psnr", "val/ssim", "val/l1"):
        match = re.search(rf"^{re.escape(name)}=(\S+)$", printed, re.MULTILINE)
        assert match, f"{name} not printed:\n{printed}"
        assert math.isfinite(float(match.group(1))), match.group(0)

    images = [cell for cell in code if any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]
    # Training pairs, the sample grid, the metric curves, the translation.
    assert len(images) >= 4, [cell.source.splitlines()[0] for cell in images]
    # The run wrote where the notebook ran, not into the repository.
    assert list((workdir / "runs" / "notebook").glob("version_*/samples/epoch_0000.png"))
    assert list((workdir / "runs" / "notebook").glob("version_*/metrics.csv"))
