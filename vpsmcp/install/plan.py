"""What ``install``, ``upgrade`` and ``uninstall`` do, as a list of steps decided up front.

A plan is computed by comparing what is wanted with what is on disk, so it
holds only the steps that change something: a plan with no steps means the
machine is already as asked. The same plan is printed by ``--dry-run`` and
carried out otherwise, so what the dry run shows is what happens.

Files are written under a root directory (``/`` normally; ``--root`` stages
an install in a throwaway tree). Everything that acts on the running system
— commands and the health check — goes through one ``Runner``, which the
dry run and tests replace by one that records. If a step fails, every file
the plan changed is put back as it was, so a failed ``nginx -t`` leaves the
previous nginx site in place; commands already run are named in the error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vpsmcp.atomic import fsync_dir, write_atomic
from vpsmcp.errors import InstallError
from vpsmcp.install import site_check

COMMAND_TIMEOUT = 300.0
HEALTH_TIMEOUT = 20.0
SITE_TIMEOUT = 5.0


class Runner(Protocol):
    """The running system: commands and the health check go through here and nowhere else."""

    def run(self, argv: Sequence[str], stdin: bytes | None = None) -> None:
        """Run a command; raise ``InstallError`` naming it if it fails."""

    def check_health(self, url: str) -> None:
        """Wait until ``url`` answers 200; raise ``InstallError`` if it does not in time."""

    def check_site(self, url: str) -> None:
        """Fetch the public ``url`` through the local nginx as a client would; raise ``InstallError`` saying why not."""


class SystemRunner:
    """Runs commands for real, with their output kept for the error message."""

    def run(self, argv: Sequence[str], stdin: bytes | None = None) -> None:
        try:
            done = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=COMMAND_TIMEOUT)
        except FileNotFoundError:
            raise InstallError(f"{argv[0]}: command not found") from None
        except subprocess.TimeoutExpired:
            raise InstallError(f"`{shlex.join(argv)}` took longer than {COMMAND_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
            raise InstallError(f"`{shlex.join(argv)}` failed (exit {done.returncode}): {output}")

    def check_health(self, url: str) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        problem = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return
                    problem = f"status {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            time.sleep(0.5)
        raise InstallError(f"{url} did not answer within {HEALTH_TIMEOUT:.0f} s ({problem}); see journalctl -u vpsmcp")

    def check_site(self, url: str) -> None:
        deadline = time.monotonic() + SITE_TIMEOUT  # nginx's workers take the new site a moment after the reload
        while True:
            try:
                return site_check.check_site(url)
            except InstallError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)


@dataclass(slots=True)
class RecordingRunner:
    """Runs nothing: records what would have run (``--root``, ``--dry-run`` and tests)."""

    commands: list[tuple[str, ...]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def run(self, argv: Sequence[str], stdin: bytes | None = None) -> None:
        self.commands.append(tuple(argv))

    def check_health(self, url: str) -> None:
        self.checks.append(url)

    def check_site(self, url: str) -> None:
        self.checks.append(url)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a plan acts: files under ``root``, everything else through ``runner``."""

    root: Path
    runner: Runner

    def path(self, path: str) -> Path:
        """``path`` (absolute on the installed system) inside the root."""
        return self.root / path.lstrip("/")


@dataclass(frozen=True, slots=True)
class WriteFile:
    """Create or replace a file (atomically), with its mode."""

    path: str
    content: bytes
    mode: int
    why: str
    shown: bool = True  # False: the content is not printed (a binary, a password hash)

    def describe(self) -> list[str]:
        head = f"write {self.path} (mode {self.mode:04o}, {len(self.content):,} bytes): {self.why}"
        if not self.shown:
            return [head]
        return [head] + ["    | " + line for line in self.content.decode("utf-8").splitlines()]

    def apply(self, target: Target) -> None:
        path = target.path(self.path)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)  # a staged --root tree may lack them
        write_atomic(path, self.content, self.mode)


@dataclass(frozen=True, slots=True)
class MakeDir:
    """Create a directory, or give an existing one this mode."""

    path: str
    mode: int
    why: str

    def describe(self) -> list[str]:
        return [f"make directory {self.path} (mode {self.mode:04o}): {self.why}"]

    def apply(self, target: Target) -> None:
        path = target.path(self.path)
        path.mkdir(mode=self.mode, parents=True, exist_ok=True)
        os.chmod(path, self.mode)


@dataclass(frozen=True, slots=True)
class Symlink:
    """Point ``path`` at ``points_to`` (replacing whatever link was there)."""

    path: str
    points_to: str
    why: str

    def describe(self) -> list[str]:
        return [f"link {self.path} -> {self.points_to}: {self.why}"]

    def apply(self, target: Target) -> None:
        path = target.path(self.path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(self.points_to, tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class Remove:
    """Remove a file, a link, or (``tree``) a whole directory."""

    path: str
    why: str
    tree: bool = False

    def describe(self) -> list[str]:
        return [f"remove {self.path}{' and everything in it' if self.tree else ''}: {self.why}"]

    def apply(self, target: Target) -> None:
        path = target.path(self.path)
        if self.tree and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Run:
    """Run a command on the system; ``stdin`` is never printed."""

    argv: tuple[str, ...]
    why: str
    stdin: bytes | None = None
    again_on_undo: bool = False  # run again after a failure put the files back (nginx: serve the old site)
    undo: tuple[str, ...] = ()  # what takes it back, run before the files are put back (enable → disable)

    def describe(self) -> list[str]:
        return [f"run `{shlex.join(self.argv)}`: {self.why}"]

    def apply(self, target: Target) -> None:
        target.runner.run(self.argv, self.stdin)


@dataclass(frozen=True, slots=True)
class CheckHealth:
    """Wait for the service to answer ``/healthz``."""

    url: str
    why: str

    def describe(self) -> list[str]:
        return [f"check {self.url}: {self.why}"]

    def apply(self, target: Target) -> None:
        target.runner.check_health(self.url)


@dataclass(frozen=True, slots=True)
class CheckSite:
    """Fetch the public site's ``/healthz`` through the local nginx, as a client will (site_check.py)."""

    url: str
    why: str

    def describe(self) -> list[str]:
        return [f"check {self.url} through the local nginx: {self.why}"]

    def apply(self, target: Target) -> None:
        target.runner.check_site(self.url)


Step = WriteFile | MakeDir | Symlink | Remove | Run | CheckHealth | CheckSite
FILE_STEPS = (WriteFile, MakeDir, Symlink, Remove)


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps that change something, what is already as wanted, and what to tell the owner."""

    title: str
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """The whole plan as text, one line per step (file contents indented)."""
        lines = [f"{self.title}:"]
        if not self.steps:
            lines.append("  nothing to change")
        for number, step in enumerate(self.steps, 1):
            first, *rest = step.describe()
            lines.append(f"  {number:2}. {first}")
            lines += ["      " + line for line in rest]
        lines += [f"  unchanged: {item}" for item in self.unchanged]
        return "\n".join(lines)


def carry_out(plan: Plan, target: Target, report: Callable[[Step], None]) -> None:
    """Apply ``plan``'s steps in order; on failure put every changed file back and re-raise."""
    saved: list[tuple[Path, _Saved]] = []
    done: list[str] = []
    try:
        for step in plan.steps:
            if isinstance(step, FILE_STEPS):
                path = target.path(step.path)
                # Directories a step creates on the way are removed again too (deepest first).
                missing = [p for p in path.parents if not p.exists() and p.is_relative_to(target.root)]
                saved += [(p, _Saved("absent")) for p in reversed(missing)]
                saved.append((path, _Saved.of(path)))
            step.apply(target)
            done.append(step.describe()[0])
            report(step)
    except (InstallError, OSError) as exc:
        ran_steps = [s for s in plan.steps if isinstance(s, Run) and s.describe()[0] in done]
        said = [_try(target, s.undo, "undid with") for s in reversed(ran_steps) if s.undo]
        for path, before in reversed(saved):
            before.restore(path)
        said += [_try(target, s.argv, "ran", " again") for s in ran_steps if s.again_on_undo]
        kept = [line for line in done if line.startswith(("run ", "check "))
                and not any(line == s.describe()[0] for s in ran_steps if s.undo or s.again_on_undo)]
        after = f"; already done, not undone: {'; '.join(kept)}" if kept else ""
        after += f"; {'; '.join(said)}" if said else ""
        problem = exc if isinstance(exc, InstallError) else f"{exc.strerror or exc}: {exc.filename}"
        raise InstallError(f"{problem} (the files changed were put back{after})") from None


def _try(target: Target, argv: tuple[str, ...], verb: str, suffix: str = "") -> str:
    """Run a command that takes a failed plan back; what happened, in words (it never raises)."""
    try:
        target.runner.run(argv)
    except InstallError as exc:
        return f"could not run `{shlex.join(argv)}`{suffix}: {exc}"
    return f"{verb} `{shlex.join(argv)}`{suffix}"


@dataclass(frozen=True, slots=True)
class _Saved:
    """What was at a path before a step changed it: a file, a link, a directory, or nothing."""

    kind: str  # "file", "link", "dir", "absent"
    content: bytes = b""
    mode: int = 0

    @classmethod
    def of(cls, path: Path) -> _Saved:
        if path.is_symlink():
            return cls("link", os.readlink(path).encode())
        if path.is_file():
            return cls("file", path.read_bytes(), path.stat().st_mode & 0o7777)
        if path.is_dir():
            return cls("dir", mode=path.stat().st_mode & 0o7777)
        return cls("absent")

    def restore(self, path: Path) -> None:
        if self.kind == "dir":
            if path.is_dir():
                os.chmod(path, self.mode)
            return  # a removed tree is not brought back; uninstall removes trees last
        if path.is_dir() and not path.is_symlink():
            if self.kind == "absent" and not any(path.iterdir()):
                path.rmdir()
            return
        path.unlink(missing_ok=True)
        if self.kind == "file":
            write_atomic(path, self.content, self.mode)
        elif self.kind == "link":
            os.symlink(self.content.decode(), path)
