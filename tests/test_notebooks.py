"""The notebooks run top to bottom (in their tiny configuration) and show what they promise.

The notebooks are stored with the outputs of this run, so they show something where they are read
(GitHub): after changing one, store it again with

    python tests/test_notebooks.py notebooks/<name>.ipynb ...

which executes it as the tests do (quickstart's tiny settings: I2I_ZOO_NOTEBOOK_TINY=1) and saves
it in place.
"""

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


def run_notebook(path: Path, workdir: Path, timeout: int = 300, check_kernel: bool = True) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    if check_kernel:
        # The interpreter the kernel ran, checked by the tests.
        nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel python:', sys.executable)"))
    client = nbclient.NotebookClient(
        nb, km=kernel_manager(workdir / "kernels"), timeout=timeout, resources={"metadata": {"path": str(workdir)}},
        record_timing=False,
    )
    client.execute(cleanup_kc=True)  # raises CellExecutionError naming the cell when one fails
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


# What the tests and the stored outputs run with.
ENVIRONMENT = {"I2I_ZOO_NOTEBOOK_TINY": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def images_of(code: list) -> list:
    """The code cells that show an image."""
    return [cell for cell in code if any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]


def execute(name: str, tmp_path: Path, monkeypatch) -> tuple[list, Path]:
    """Runs notebooks/`name` in a folder of its own; its code cells (checked free of errors, run by
    this interpreter) and that folder."""
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("I2I_ZOO_CACHE", str(tmp_path / "cache"))  # FID features of the real images
    workdir = tmp_path / "work"
    workdir.mkdir()

    start = time.perf_counter()
    nb = run_notebook(NOTEBOOKS / name, workdir)
    print(f"{name} executed in {time.perf_counter() - start:.1f} s")

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    assert text_of(code[-1]).strip() == f"kernel python: {sys.executable}"
    return code, workdir


def test_notebooks_are_stored_with_outputs():
    """Each notebook shows the outputs of a run where it is read, none of them an error."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
        assert all(cell.execution_count for cell in code), f"{path.name} is stored with cells not run"
        outputs = [o for cell in code for o in cell.get("outputs", [])]
        assert images_of(code), f"{path.name} is stored without its figures"
        assert not [o for o in outputs if o.output_type == "error"], f"{path.name} is stored with an error"


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    code, workdir = execute("quickstart.ipynb", tmp_path, monkeypatch)

    printed = "".join(text_of(cell) for cell in code)
    for name in ("val/fid", "val/kid_mean", "val/psnr", "val/ssim", "val/l1"):
        match = re.search(rf"^{re.escape(name)}=(\S+)$", printed, re.MULTILINE)
        assert match, f"{name} not printed:\n{printed}"
        assert math.isfinite(float(match.group(1))), match.group(0)

    images = images_of(code)
    # Training pairs, the sample grid, the metric curves, the translation.
    assert len(images) >= 4, [cell.source.splitlines()[0] for cell in images]
    # The run wrote where the notebook ran, not into the repository.
    assert list((workdir / "runs" / "notebook").glob("version_*/samples/epoch_0000.png"))
    assert list((workdir / "runs" / "notebook").glob("version_*/metrics.csv"))


def test_translate_your_own_image_notebook_runs(tmp_path, monkeypatch):
    code, _ = execute("translate_your_own_image.ipynb", tmp_path, monkeypatch)
    printed = "".join(text_of(cell) for cell in code)
    assert "Pix2Pix - generator sides must be multiples of 32" in printed, printed
    # An image whose sides are not multiples of 32 comes back at its own size.
    assert "input (1, 3, 75, 100) -> output (1, 3, 75, 100)" in printed, printed
    assert images_of(code)


def test_multi_domain_notebook_runs(tmp_path, monkeypatch):
    code, _ = execute("multi_domain.ipynb", tmp_path, monkeypatch)
    printed = "".join(text_of(cell) for cell in code)
    # 4 test images, each as input and in the 4 tints; 5 frames of 4 images.
    assert "domains: ['red', 'green', 'blue', 'yellow'] - grid (20, 3, 32, 32)" in printed, printed
    assert "condition: ['brightness'] - frames (5, 4, 3, 32, 32)" in printed, printed
    assert len(images_of(code)) == 2


if __name__ == "__main__":
    import os
    import tempfile

    os.environ.update(ENVIRONMENT)
    for argument in sys.argv[1:]:
        notebook = Path(argument).resolve()
        with tempfile.TemporaryDirectory() as folder:
            os.environ["I2I_ZOO_CACHE"] = str(Path(folder) / "cache")
            (Path(folder) / "work").mkdir()
            start = time.perf_counter()
            executed = run_notebook(notebook, Path(folder) / "work", check_kernel=False)
            print(f"{notebook.name} executed in {time.perf_counter() - start:.1f} s")
        nbformat.write(executed, notebook)
