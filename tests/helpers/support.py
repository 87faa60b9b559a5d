"""Start real vpsmcp processes for tests and find the port they announce."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio

ROOT = Path(__file__).resolve().parent.parent.parent
LISTENING = re.compile(r"listening on (http://[\w.:\[\]-]+:\d+)")
CONVERSATION_TIMEOUT = 30.0  # the most one test's client conversation may take
T = TypeVar("T")


class ServerProcess:
    """A ``vpsmcp serve`` child process; its stderr is collected in ``lines``."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.lines: list[str] = []
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        found = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()
            found.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        found.wait(timeout)
        if not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + self.output())
        return self

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._pump.join(5)
            if self.proc.stdout:
                self.proc.stdout.close()

    def wait_for_line(self, pattern: str, timeout: float = 5.0, count: int = 1) -> str:
        """The ``count``-th output line matching ``pattern``, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            matching = [line for line in list(self.lines) if regex.search(line)]
            if len(matching) >= count:
                return matching[count - 1]
            time.sleep(0.02)
        raise AssertionError(f"fewer than {count} lines matching {pattern!r} in:\n{self.output()}")

    def __enter__(self) -> ServerProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.stop()


def serve_from_checkout(tmp: Path, *args: str) -> ServerProcess:
    """``python -m vpsmcp serve`` on port 0 with its state under ``tmp``."""
    env = clean_env(tmp)
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(tmp / "state"), *args]
    return ServerProcess(argv, env=env, cwd=tmp)


def clean_env(home: Path) -> dict[str, str]:
    """A minimal environment whose HOME is ``home``; the checkout is importable."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    return env


def converse(server: ServerProcess, conversation: Callable[[], Awaitable[T]], timeout: float = CONVERSATION_TIMEOUT) -> T:
    """Run an async client conversation with a deadline; on failure show what the server logged."""

    async def bounded() -> T:
        with anyio.fail_after(timeout):
            return await conversation()

    try:
        return anyio.run(bounded)
    except BaseException:
        print("--- vpsmcp output ---\n" + server.output())
        raise
