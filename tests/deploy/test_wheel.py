"""The other way to ship: build the wheel from the checkout, install it in a fresh venv, run it.

``pip install .`` (and ``pipx install .``, ``uv tool install .``) build this
wheel; when it held only the top-level modules, the installed ``vpsmcp``
could not even start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import ROOT, ServerProcess

pytestmark = pytest.mark.slow

# What a build must not see: the checkout's own build output, venvs and caches
# (setuptools would reuse a stale build/lib), and compiled bytecode.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "node_modules", "build", "dist", "*.egg-info",
    "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache",
)


def run(argv: list[str], what: str, timeout: float, cwd: Path | None = None) -> str:
    """Run ``argv``; fail naming ``what`` and showing its output unless it exits 0."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the checkout, built in a copy (pip writes build/ and *.egg-info in-tree)."""
    source = tmp_path_factory.mktemp("wheel") / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    out = source.parent / "out"
    # With build isolation, as pip, pipx and uv build it: the project's venv has
    # setuptools but not the wheel package, which an older setuptools needs.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
         "-w", str(out), str(source)], "building the wheel", timeout=300)
    built = sorted(out.glob("vpsmcp-*.whl"))
    assert len(built) == 1, f"expected one vpsmcp wheel in {out}, found {[p.name for p in out.iterdir()]}"
    return built[0]


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A fresh venv with the wheel installed (its dependencies from the package index)."""
    venv = wheel.parent.parent / "venv"
    run([sys.executable, "-m", "venv", str(venv)], "creating a venv", timeout=120)
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheel)],
        f"installing {wheel.name} into a fresh venv", timeout=600)
    return venv


def package_files() -> set[str]:
    """Every file of the vpsmcp package in the checkout, as a wheel names it."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "vpsmcp").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_wheel_holds_every_subpackage_and_template(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("vpsmcp/cli.py", "vpsmcp/protocol/__init__.py", "vpsmcp/doctor/__init__.py",
                   "vpsmcp/oauth/templates/consent.html", "vpsmcp/status/templates/login.html"):
        assert needed in names, f"{needed} is not in {wheel.name}: check [tool.setuptools] in pyproject.toml"
    missing = sorted(package_files() - names)
    assert not missing, f"files of the package left out of {wheel.name}: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_wheel_serves_and_stops(venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "empty"  # nothing importable from the cwd, and no PYTHONPATH: only the venv's vpsmcp
    work.mkdir()
    where = run([str(venv / "bin" / "python"), "-I", "-c", "import vpsmcp; print(vpsmcp.__file__)"],
                "importing the installed vpsmcp", timeout=60, cwd=work)
    assert Path(where.strip()).resolve().is_relative_to(venv.resolve()), where
    argv = [str(venv / "bin" / "vpsmcp"), "serve", "--listen", "127.0.0.1", "--port", "0",
            "--state-dir", str(tmp_path / "state")]
    with ServerProcess(argv, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, cwd=work) as proc:
        health = httpx.get(proc.url + "/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        login = httpx.get(proc.url + "/status/login")  # rendered from the shipped templates
        assert login.status_code == 200 and "<form" in login.text, login.text
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output(), proc.output()


def test_installed_wheel_runs_the_doctor(venv: Path, tmp_path: Path) -> None:
    out = run([str(venv / "bin" / "vpsmcp"), "doctor", "--help"], "vpsmcp doctor --help", timeout=60, cwd=tmp_path)
    assert "usage: vpsmcp doctor" in out, out
