"""A small, real tmpfs for the state directory, and filling it: the full-disk tests (as root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(tmp: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs under ``tmp``, unmounted afterwards; a test that is not root fails, never skips."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs: run it as root (tests/run.sh does in CI)")
    disk = tmp / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the file that does it (unlink it to make room)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):
        while os.write(fd, b"\0" * 512):
            pass
    os.close(fd)
    return filler
