"""The state directory: created 0700 on first use, holding 0600 files.

It keeps what must survive a restart (tokens, sessions, audit log) and the
generated secret key when the config does not set one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from vpsmcp.atomic import write_atomic
from vpsmcp.errors import StateError

SECRET_KEY_FILE = "secret_key"
INSTANCES = "instances"  # STATE_DIR/instances/NAME: what each of several instances keeps apart


@dataclass(frozen=True, slots=True)
class StateDir:
    """An existing, private state directory."""

    path: Path
    created: bool

    @classmethod
    def open(cls, path: Path) -> StateDir:
        """Create ``path`` (mode 0700) if missing; refuse one others can read."""
        created = not path.exists()
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                os.chmod(path, 0o700)
        except OSError as exc:
            raise StateError(f"state directory {path}: {exc.strerror or exc}") from None
        if not path.is_dir():
            raise StateError(f"state directory {path}: not a directory")
        return cls(path, created)

    def own(self, instance: str) -> Path:
        """Where the instance named ``instance`` keeps its own files (audit, trace, sessions): the state
        directory itself for the only one (``""``), else ``instances/NAME`` in it, made 0700 here."""
        if not instance:
            return self.path
        path = self.path / INSTANCES / instance
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.path / INSTANCES).chmod(0o700)
        except OSError as exc:
            raise StateError(f"state directory {path}: {exc.strerror or exc}") from None
        return path

    def instances(self) -> list[tuple[str, Path]]:
        """Every instance's own directory that exists: the only one's first, as ``("", path)``."""
        named = sorted(p for p in (self.path / INSTANCES).glob("*") if p.is_dir())
        return [("", self.path), *((p.name, p) for p in named)]

    def prepare_for_serving(self) -> None:
        """What ``serve`` needs before it starts: a directory it can write, rid of the temporary
        files of writes a killed process left behind."""
        _check_writable(self.path)
        _sweep_temporaries(self.path)

    def secret_key(self, configured: str) -> str:
        """The configured key, else the one generated here on first use."""
        if configured:
            return configured
        key_file = self.path / SECRET_KEY_FILE
        try:
            key = key_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            key = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"{key_file}: cannot be read: {exc}") from None
        if len(key) < 32:
            key = secrets.token_urlsafe(32)
            try:
                write_atomic(key_file, key.encode("ascii") + b"\n")
            except OSError as exc:
                raise StateError(f"{key_file}: cannot be written: {exc.strerror or exc}") from None
        return key


def unwritable(path: Path) -> str | None:
    """Why the existing directory ``path`` cannot be written (a file made and removed in it), or ``None``."""
    probe = path / f".write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def _check_writable(path: Path) -> None:
    """One line naming the directory and the fix, instead of a traceback from the first write."""
    if (problem := unwritable(path)) is not None:
        raise StateError(
            f"state directory {path} cannot be written ({problem}): vpsmcp keeps its tokens, sessions "
            "and audit log there; make it writable by this user, or name another with --state-dir "
            "(server.state_dir)"
        )


TEMPORARY = re.compile(r"\..+\.tmp-(\d+)(-[0-9a-f]+)?")


def _sweep_temporaries(path: Path) -> None:
    """Remove the temporary files of atomic writes that a killed process left (``.NAME.tmp-PID``)."""
    for entry in path.iterdir():
        match = TEMPORARY.fullmatch(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
