"""The shipped artefact: build dist/vpsmcp.pyz and run it on a Python with nothing installed."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.helpers.support import ROOT, ServerProcess

pytestmark = pytest.mark.slow

SYSTEM_PYTHON = "/usr/bin/python3"


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vpsmcp_build", ROOT / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def newest_python() -> str:
    """The newest CPython 3.x this machine has (pyenv's or on PATH)."""
    candidates = []
    for minor in range(11, 20):
        found = shutil.which(f"python3.{minor}")
        pyenv = Path.home() / ".pyenv" / "versions"
        for path in sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}")) if pyenv.is_dir() else []:
            found = str(path)
        if found:
            candidates.append((minor, found))
    assert candidates, "no python3.x interpreter found"
    return max(candidates)[1]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    assert Path(SYSTEM_PYTHON).exists(), "Debian's /usr/bin/python3 is required for this test"
    out = tmp_path_factory.mktemp("dist") / "vpsmcp.pyz"
    assert build.main(["--output", str(out)]) == 0
    yield out


def test_two_builds_give_the_same_bytes(pyz: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.pyz"
    assert build.main(["--output", str(again)]) == 0
    assert again.read_bytes() == pyz.read_bytes()


def test_pyz_holds_no_compiled_extension_and_no_test_dependency(pyz: Path) -> None:
    names = zipfile.ZipFile(pyz).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    tops = {n.split("/")[0] for n in names}
    for excluded in ("cryptography", "cffi", "joserfc", "hiredis", "pytest", "hypothesis", "httpx", "mcp"):
        assert excluded not in tops
    assert "vpsmcp/cli.pyc" in names and "quart/app.pyc" in names and "redis/client.pyc" in names
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


@pytest.mark.parametrize("python", [SYSTEM_PYTHON, newest_python()])
def test_pyz_serves_and_stops_on_a_bare_python(pyz: Path, tmp_path: Path, python: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "empty"
    work.mkdir()
    argv = [python, "-I", str(pyz), "serve", "--port", "0"]
    with ServerProcess(argv, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, cwd=work) as proc:
        response = httpx.get(proc.url + "/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"
        started = time.monotonic()
        assert proc.stop() == 0
        assert time.monotonic() - started < 5
    assert (home / ".local" / "share" / "vpsmcp").is_dir()
    assert "Traceback" not in proc.output()


def test_pyz_keeps_its_oauth_store_in_redis_on_debians_python(pyz: Path, tmp_path: Path, redis_url: str) -> None:
    """redis-py from the pyz, on Debian 12's python3 (3.11.2: redis.asyncio imports async_timeout there)."""
    import redis

    (tmp_path / "vpsmcp.toml").write_text(f'[store]\nbackend = "redis"\nurl = "{redis_url}"\nprefix = "pyz"\n')
    argv = [SYSTEM_PYTHON, "-I", str(pyz), "serve", "--port", "0", "--config", str(tmp_path / "vpsmcp.toml")]
    with ServerProcess(argv, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, cwd=tmp_path) as proc:
        registered = httpx.post(proc.url + "/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"],
                                                              "token_endpoint_auth_method": "none"})
        assert registered.status_code == 201, registered.text
    stored = redis.Redis.from_url(redis_url).get(f"pyz:client:{registered.json()['client_id']}")
    assert stored is not None and not (tmp_path / ".local" / "share" / "vpsmcp" / "oauth.sqlite3").exists()
    assert "Traceback" not in proc.output(), proc.output()


def test_pyz_uses_shipped_bytecode_on_the_building_python_version(pyz: Path) -> None:
    code = f"import sys; sys.path.insert(0, {str(pyz)!r}); import vpsmcp.cli; print(vpsmcp.cli.__file__)"
    python = SYSTEM_PYTHON if sys.version_info[:2] == (3, 11) else sys.executable
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("vpsmcp/cli.pyc")


def test_pyz_ignores_packages_installed_on_the_system(pyz: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "quart"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the system quart was imported')\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(shadow.parent)}
    result = subprocess.run([SYSTEM_PYTHON, str(pyz), "version"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert re.match(r"vpsmcp \S+ \(Python 3\.\d+\.\d+, quart 0\.22\.0", result.stdout)


def test_build_refuses_a_compiled_extension(tmp_path: Path) -> None:
    wheel = tmp_path / "native-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("native/__init__.py", "")
        zf.writestr("native/_core.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    with pytest.raises(build.BuildError, match=r"refusing to bundle the compiled extension native/_core"):
        build.unpack([wheel], tmp_path / "staging")


def test_build_drops_optional_accelerators(tmp_path: Path) -> None:
    wheel = tmp_path / "markupsafe-3.0.4-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("markupsafe/__init__.py", "")
        zf.writestr("markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    build.unpack([wheel], tmp_path / "staging")
    assert [p.name for p in (tmp_path / "staging" / "markupsafe").iterdir()] == ["__init__.py"]
