"""Durable, atomic file replacement.

Strategy: write the new content to a temporary file in the same directory,
fsync it, rename it over the target, then fsync the directory. A crash at any
moment leaves either the old file or the new one, never a torn mix, and once
this returns the new content survives a power cut. Files are created 0600:
everything vpsmcp writes may hold a secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Make a rename or creation inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic_at(
    dir_fd: int,
    name: str,
    data: bytes,
    mode: int = 0o600,
    *,
    exclusive: bool = False,
    owner: tuple[int, int] | None = None,
) -> None:
    """``write_atomic`` inside an open directory: ``name`` is relative to ``dir_fd``
    and no symbolic link is followed, so a path checked once cannot be swapped.

    ``exclusive``: fail with ``FileExistsError`` if ``name`` exists (a hard link
    puts the new file in place, which never replaces). ``owner``: (uid, gid) to
    give the new file, to keep the owner of the file it replaces.
    """
    tmp = f".{name[:200]}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            if owner is not None:
                os.fchown(out.fileno(), *owner)
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            os.unlink(tmp, dir_fd=dir_fd)
        else:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)
