#!/usr/bin/env python3
"""Build ``dist/vpsmcp.pyz``: vpsmcp and its pure-Python dependencies in one file.

    python3 build.py [--output PATH]

Steps: fetch the pinned wheels (cached under ``build/wheels``), unpack them
into a staging tree with no dependency resolution (the closure below *is* the
bundle), refuse any compiled extension, add vpsmcp's own source, compile
every module to a hash-checked-free ``.pyc`` for the building interpreter, and
write a zip whose entries, order, timestamps and modes are fixed, so two
builds from the same inputs give the same bytes.

Only the standard library is used; pip (``python3 -m pip``) fetches wheels.
"""

from __future__ import annotations

import argparse
import io
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# The runtime closure of quart + hypercorn + authlib + tomli-w + redis, pinned.
# Left out on purpose: cryptography and cffi (compiled; a zipapp cannot import
# them) and joserfc, which imports cryptography; authlib's parts that need
# them (JOSE, JWT, its RFC 7591 endpoint) are not used by vpsmcp. redis-py
# without hiredis (compiled; redis-py parses replies in Python without it);
# async-timeout is what redis.asyncio imports on Python < 3.11.3 (Debian 12).
BUNDLE = (
    "quart==0.22.0",
    "hypercorn==0.18.0",
    "authlib==1.9.10",
    "tomli-w==1.2.0",
    "redis==8.1.0",
    "async-timeout==5.0.1",
    "aiofiles==25.1.0",
    "blinker==1.9.0",
    "click==8.5.1",
    "flask==3.1.3",
    "h11==0.16.0",
    "h2==4.4.1",
    "hpack==4.2.0",
    "hyperframe==6.1.0",
    "itsdangerous==2.2.0",
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "priority==2.0.0",
    "werkzeug==3.1.9",
    "wsproto==1.3.2",
)

# Compiled modules that have a pure-Python fallback: dropped, not bundled.
OPTIONAL_ACCELERATORS = ("markupsafe/_speedups",)

COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SHEBANG = b"#!/usr/bin/env python3\n"

ENTRY_POINT = '''\
"""Zipapp entry point: import only what this file bundles, then run the CLI."""
import os
import sys
import sysconfig


def _isolate():
    # A system python3 keeps site-packages (e.g. /usr/lib/python3/dist-packages)
    # on sys.path; whatever it holds must not shadow the bundled dependencies.
    archive = os.path.dirname(os.path.abspath(__file__))
    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib")}

    def is_stdlib(entry):
        real = os.path.realpath(entry)
        if "site-packages" in real or "dist-packages" in real:
            return False
        return any(real == d or real.startswith(d + os.sep) for d in stdlib) or real.endswith(".zip")

    sys.path[:] = [archive] + [p for p in sys.path if p and p != archive and is_stdlib(p)]


_isolate()
from vpsmcp.cli import main  # noqa: E402

sys.exit(main())
'''


class BuildError(Exception):
    """The build cannot produce a correct pyz; the message says why."""


def fetch_wheels(cache: Path) -> list[Path]:
    """Download the pinned wheels into ``cache`` (once) and return them."""
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "-qq", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--dest", str(cache), *BUNDLE,
    ]
    if subprocess.run(cmd).returncode != 0:
        raise BuildError("pip could not download the pinned wheels (see its output above)")
    wheels = []
    for requirement in BUNDLE:
        name, version = requirement.split("==")
        prefix = f"{name.replace('-', '_').lower()}-{version}-"
        found = [w for w in cache.glob("*.whl") if w.name.lower().startswith(prefix)]
        if not found:
            raise BuildError(f"no wheel for {requirement} in {cache}")
        wheels.append(sorted(found)[0])
    return wheels


def unpack(wheels: list[Path], staging: Path) -> None:
    """Unpack wheels into ``staging``, refusing or dropping compiled modules."""
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.endswith("/") or name.split("/", 1)[0].endswith(".data"):
                    continue
                if name.endswith(COMPILED_SUFFIXES):
                    if name.startswith(OPTIONAL_ACCELERATORS):
                        continue
                    raise BuildError(
                        f"refusing to bundle the compiled extension {name} from {wheel.name}: "
                        "a zipapp cannot import compiled modules; pin a pure-Python build or "
                        "leave the package out"
                    )
                if name.endswith(("/RECORD", "/INSTALLER", "/REQUESTED")):
                    continue
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))


def add_project(staging: Path) -> None:
    """Copy vpsmcp's own package and deployment files into ``staging``."""
    for src in sorted((ROOT / "vpsmcp").rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts and src.suffix != ".pyc":
            target = staging / src.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    for src in sorted((ROOT / "systemd").glob("*")):
        if src.is_file():
            target = staging / "vpsmcp" / "deploy" / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    (staging / "__main__.py").write_text(ENTRY_POINT, encoding="utf-8")


def check_compiled(staging: Path) -> None:
    """Fail if anything compiled is in the tree, whatever put it there."""
    compiled = [p for p in staging.rglob("*") if p.name.endswith(COMPILED_SUFFIXES)]
    if compiled:
        names = ", ".join(str(p.relative_to(staging)) for p in compiled)
        raise BuildError(f"refusing to bundle compiled extensions: {names}")


def compile_bytecode(staging: Path) -> None:
    """Write ``mod.pyc`` beside each ``mod.py``, where zipimport looks for it.

    Unchecked hash-based pycs embed no timestamp (reproducible builds) and are
    used by the same Python version; another version sees a foreign magic
    number and zipimport falls back to the source.
    """
    for src in sorted(staging.rglob("*.py")):
        rel = src.relative_to(staging).as_posix()
        try:
            py_compile.compile(
                str(src),
                cfile=str(src.with_suffix(".pyc")),
                dfile=rel,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError as exc:
            raise BuildError(f"cannot compile {rel}: {exc.msg}") from None


def write_zip(staging: Path, output: Path) -> None:
    """Write a deterministic zipapp of ``staging`` to ``output``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        # Directory entries too: zipimport finds namespace packages (flask.sansio)
        # only through them.
        for path in sorted(staging.rglob("*")):
            name = path.relative_to(staging).as_posix()
            if path.is_dir():
                info = zipfile.ZipInfo(name + "/", FIXED_TIME)
                info.external_attr = (0o40755 << 16) | 0x10
                info.create_system = 3
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, path.read_bytes())
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_bytes(SHEBANG + buffer.getvalue())
    os.chmod(tmp, 0o755)
    os.replace(tmp, output)


def build(output: Path, cache: Path) -> None:
    """Build the pyz at ``output``."""
    wheels = fetch_wheels(cache)
    with tempfile.TemporaryDirectory(prefix="vpsmcp-build-") as tmp:
        staging = Path(tmp)
        unpack(wheels, staging)
        add_project(staging)
        check_compiled(staging)
        compile_bytecode(staging)
        write_zip(staging, output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build dist/vpsmcp.pyz.")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "vpsmcp.pyz")
    parser.add_argument("--wheel-cache", type=Path, default=ROOT / "build" / "wheels")
    args = parser.parse_args(argv)
    try:
        build(args.output, args.wheel_cache)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
