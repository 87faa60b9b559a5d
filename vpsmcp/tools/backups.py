"""Copies of files taken before a tool changes or deletes them.

A backup goes to the backup directory (``tools.backup_dir``, by default
STATE_DIR/backups), never beside the file: a copy next to a config file could
itself be read as config (nginx includes every file of ``sites-enabled``).
Each backup keeps the file's absolute path under a directory named for the
moment it was taken, so ``ls`` shows what changed when.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from vpsmcp.atomic import write_atomic


def keep_backup(backup_dir: Path, shown: str, data: bytes) -> str:
    """Store ``data``, the content of the file at ``shown``, and return where it went (0600, in 0700 dirs)."""
    moment = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = backup_dir / moment / shown.lstrip("/")
    _make_private_dirs(backup_dir, target.parent)
    write_atomic(target, data)
    return str(target)


def _make_private_dirs(base: Path, directory: Path) -> None:
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = base
    for part in directory.relative_to(base).parts:
        path = path / part
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
