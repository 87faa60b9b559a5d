"""Changing files under the allowed roots: write (overwrite, create, append), mkdir, move, delete.

Each change is made relative to a confined, checked directory descriptor
(confinement.py). An overwrite is atomic — a temporary file in the same
directory renamed over the old one (atomic.py) — and keeps the old file's
mode and, when vpsmcp runs as root, its owner. Before a file is replaced,
appended to or deleted, a copy goes to the backup directory (backups.py)
unless ``tools.backups`` is off or the call says ``backup: false``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import os
import shutil
import stat
from typing import Any

from vpsmcp.atomic import write_atomic_at
from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import FILES_WRITE
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.backups import keep_backup
from vpsmcp.tools.confinement import Spot
from vpsmcp.tools.declaration import Declarer, Effect
from vpsmcp.tools.rendering import fields, result
from vpsmcp.tools.toolbox import Toolbox

BACKUP_MAX = 64 * 1024 * 1024  # a larger file is not copied in memory; the call must say backup: false
NEW_FILE_MODE = 0o644
CHANGES = Effect(read_only=False, destructive=True, idempotent=False)
PATH = s.string("A path under one of the allowed roots.")
PERMISSIONS = s.string("Octal permission bits for a new file or directory, e.g. 0600. Default: 0644 / 0755.")
BACKUP = s.boolean("Copy the old file to the backup directory first. Default: tools.backups.")
WRITE_INPUTS = s.inputs(
    {
        "path": PATH,
        "content": s.string(),
        "encoding": s.string("utf-8 text, or base64 for binary data.", default="utf-8", enum=("utf-8", "base64")),
        "mode": s.string("overwrite (atomic replace), create (fails if the file exists) or append.",
                         default="overwrite", enum=("overwrite", "create", "append")),
        "permissions": PERMISSIONS,
        "backup": BACKUP,
    },
    required=("path", "content"),
)
MKDIR_INPUTS = s.inputs(
    {"path": PATH, "parents": s.boolean("Create missing parents too.", default=False), "permissions": PERMISSIONS},
    required=("path",),
)
MOVE_INPUTS = s.inputs(
    {
        "source": PATH,
        "destination": PATH,
        "overwrite": s.boolean("Replace an existing destination.", default=False),
        "backup": BACKUP,
    },
    required=("source", "destination"),
)
DELETE_INPUTS = s.inputs(
    {"path": PATH, "recursive": s.boolean("Delete a directory with its content.", default=False), "backup": BACKUP},
    required=("path",),
)
OUTPUT = s.obj({"path": s.string(), "backup": s.nullable(s.string("Where the old content was copied."))},
               required=("path", "backup"))


def tools(box: Toolbox) -> list[Tool]:
    """files_write, files_mkdir, files_move, files_delete."""

    async def write(ctx: Context, args: Args) -> ToolResult:
        data = _content(args.text("content"), args.text("encoding"))
        backup = _backup_wanted(box, args)
        how, perms = args.text("mode"), _permissions(args.text_or_none("permissions"))
        done = await asyncio.to_thread(_write, box, args.text("path"), data, how, perms, backup)
        return result(done, fields(done), box.limit)

    async def mkdir(ctx: Context, args: Args) -> ToolResult:
        perms = _permissions(args.text_or_none("permissions")) or 0o755
        done = await asyncio.to_thread(_mkdir, box, args.text("path"), args.flag("parents"), perms)
        return result(done, fields(done), box.limit)

    async def move(ctx: Context, args: Args) -> ToolResult:
        done = await asyncio.to_thread(
            _move, box, args.text("source"), args.text("destination"), args.flag("overwrite"), _backup_wanted(box, args)
        )
        return result(done, fields(done), box.limit)

    async def delete(ctx: Context, args: Args) -> ToolResult:
        done = await asyncio.to_thread(_delete, box, args.text("path"), args.flag("recursive"), _backup_wanted(box, args))
        return result(done, fields(done), box.limit)

    writes = Declarer(FILES_WRITE, box.timeout, CHANGES)
    return [
        writes("files_write", "Write a file", "Write text (or base64 data) to a file under the allowed roots: "
               "atomically replace it, create it, or append to it.", write, WRITE_INPUTS,
               _output(size=s.integer(), bytes_written=s.integer(), created=s.boolean())),
        writes("files_mkdir", "Make a directory", "Create a directory under the allowed roots.", mkdir,
               MKDIR_INPUTS, _output(created=s.boolean()), effect=Effect(read_only=False)),
        writes("files_move", "Move or rename", "Move or rename a file or directory within the allowed roots "
               "(on one filesystem).", move, MOVE_INPUTS, _output(destination=s.string(), replaced=s.boolean())),
        writes("files_delete", "Delete", "Delete a file, a link, or a directory (recursive: with everything in "
               "it) under the allowed roots.", delete, DELETE_INPUTS, _output(type=s.string()),
               effect=Effect(read_only=False, destructive=True)),
    ]


def _output(**extra: s.Schema) -> s.Schema:
    return s.obj({**OUTPUT["properties"], **extra}, required=(*OUTPUT["required"], *extra))


def _content(text: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ToolError("content is not valid base64") from None


def _permissions(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.removeprefix("0o"), 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise ToolError(f"permissions must be octal digits such as 0644, not {text!r}")
    return value


def _backup_wanted(box: Toolbox, args: Args) -> bool:
    chosen = args.flag_or_none("backup")
    return box.config.backups if chosen is None else chosen


def _write(box: Toolbox, path: str, data: bytes, how: str, perms: int | None, backup: bool) -> dict[str, Any]:
    with box.roots.spot(path) as spot:  # a link inside the roots is written through, to its target
        name = _named(spot)
        old = _lstat(spot)
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise ToolError(f"{spot.shown} is not a regular file")
        if old is not None and how == "create":
            raise ToolError(f"{spot.shown} exists (mode create never replaces a file; use overwrite)")
        saved = _save(box, spot, old) if backup and old is not None else None
        if how == "append":
            _append(spot, data, perms)
        else:
            mode = perms if perms is not None else stat.S_IMODE(old.st_mode) if old else NEW_FILE_MODE
            owner = (old.st_uid, old.st_gid) if old is not None and os.geteuid() == 0 else None
            write_atomic_at(spot.dir_fd, name, data, mode, exclusive=how == "create", owner=owner)
        size = os.stat(name, dir_fd=spot.dir_fd, follow_symlinks=False).st_size
    return {"path": spot.shown, "backup": saved, "size": size, "bytes_written": len(data), "created": old is None}


def _append(spot: Spot, data: bytes, perms: int | None) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(_named(spot), flags, perms if perms is not None else NEW_FILE_MODE, dir_fd=spot.dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(box: Toolbox, path: str, parents: bool, perms: int) -> dict[str, Any]:
    location = box.roots.locate(path)
    steps = [location.parts[:i] for i in range(1, len(location.parts) + 1)] if parents else [location.parts]
    created = False
    for parts in steps:
        with box.roots.spot(os.path.join(location.root, *parts)) as spot:
            try:
                os.mkdir(_named(spot), perms, dir_fd=spot.dir_fd)
                created = True
            except FileExistsError:
                existing = os.stat(_named(spot), dir_fd=spot.dir_fd)
                if not stat.S_ISDIR(existing.st_mode) or not parents:
                    raise ToolError(f"{spot.shown} exists") from None
    return {"path": location.shown, "backup": None, "created": created}


def _move(box: Toolbox, source: str, destination: str, overwrite: bool, backup: bool) -> dict[str, Any]:
    with box.roots.spot(source, follow_last=False) as src, box.roots.spot(destination, follow_last=False) as dst:
        if _lstat(src) is None:
            raise ToolError(f"not found: {src.shown}")
        old = _lstat(dst)
        if old is not None and not overwrite:
            raise ToolError(f"{dst.shown} exists (pass overwrite: true to replace it)")
        saved = _save(box, dst, old) if backup and old is not None and stat.S_ISREG(old.st_mode) else None
        try:
            os.rename(_named(src), _named(dst), src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise ToolError(f"cannot move {src.shown} to another filesystem ({dst.shown})") from None
            raise
        os.fsync(src.dir_fd)
        os.fsync(dst.dir_fd)
    return {"path": src.shown, "destination": dst.shown, "backup": saved, "replaced": old is not None}


def _delete(box: Toolbox, path: str, recursive: bool, backup: bool) -> dict[str, Any]:
    with box.roots.spot(path, follow_last=False) as spot:
        name = _named(spot)
        info = _lstat(spot)
        if info is None:
            raise ToolError(f"not found: {spot.shown}")
        saved = None
        if stat.S_ISDIR(info.st_mode):
            if recursive:
                shutil.rmtree(name, dir_fd=spot.dir_fd)
            else:
                _rmdir(spot)
        else:
            saved = _save(box, spot, info) if backup and stat.S_ISREG(info.st_mode) else None
            os.unlink(name, dir_fd=spot.dir_fd)
        os.fsync(spot.dir_fd)
    kind = "directory" if stat.S_ISDIR(info.st_mode) else "symlink" if stat.S_ISLNK(info.st_mode) else "file"
    return {"path": spot.shown, "backup": saved, "type": kind}


def _rmdir(spot: Spot) -> None:
    try:
        os.rmdir(_named(spot), dir_fd=spot.dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOTEMPTY:
            raise ToolError(f"{spot.shown} is not empty (pass recursive: true to delete it with its content)") from None
        raise


def _named(spot: Spot) -> str:
    if spot.name is None:
        raise ToolError(f"{spot.shown} is an allowed root itself; it cannot be changed this way")
    return spot.name


def _lstat(spot: Spot) -> os.stat_result | None:
    try:
        return os.stat(_named(spot), dir_fd=spot.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _save(box: Toolbox, spot: Spot, info: os.stat_result) -> str:
    """A backup of the regular file at ``spot`` (read through a descriptor, no link followed)."""
    if info.st_size > BACKUP_MAX:
        raise ToolError(
            f"{spot.shown} is larger than {BACKUP_MAX // 2**20} MiB, too large to back up: pass backup: false"
        )
    fd = os.open(_named(spot), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=spot.dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return keep_backup(box.backup_dir, spot.shown, b"".join(chunks))
