"""Looking at files under the allowed roots: list, stat, read (with ranges; binary detected).

Every path goes through ``Roots`` (confinement.py); the reads happen in a
worker thread, so a slow disk never stalls other requests.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import grp
import os
import stat
from typing import Any

from vpsmcp.errors import ToolError
from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import READ
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer
from vpsmcp.tools.procfs import user_name
from vpsmcp.tools.rendering import fields, joined, result, size, table
from vpsmcp.tools.toolbox import Toolbox
from vpsmcp.tools.truncation import page

PATH = s.string("A path under one of the allowed roots; relative paths start at the first root.")
KINDS = {
    stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket", stat.S_IFCHR: "char-device", stat.S_IFBLK: "block-device",
}
ENTRY = s.obj(
    {
        "name": s.string(),
        "type": s.string(enum=sorted(set(KINDS.values()) | {"other"})),
        "size": s.integer(),
        "mode": s.string("Permission bits in octal, e.g. 0644."),
        "permissions": s.string("As ls shows them, e.g. -rw-r--r--."),
        "owner": s.string(),
        "group": s.string(),
        "modified": s.string("ISO 8601, UTC."),
        "target": s.nullable(s.string("Where a symbolic link points.")),
    },
    required=("name", "type", "size", "mode", "permissions", "owner", "group", "modified", "target"),
)
LIST_INPUTS = s.inputs({"path": {**PATH, "default": "."}, **s.paging(200, 5000)})
READ_OUTPUT = s.obj(
    {
        "path": s.string(),
        "size": s.integer("The file's size in bytes."),
        "offset": s.integer(),
        "length": s.integer("Bytes returned."),
        "encoding": s.string("utf-8 for text; base64 for binary data.", enum=("utf-8", "base64")),
        "content": s.string(),
        "next_offset": s.nullable(s.integer("Offset of the next unread byte; null at the end of the file.")),
    },
    required=("path", "size", "offset", "length", "encoding", "content", "next_offset"),
)


def tools(box: Toolbox) -> list[Tool]:
    """files_list, files_stat, files_read."""
    async def list_dir(ctx: Context, args: Args) -> ToolResult:
        shown, entries = await asyncio.to_thread(_list, box, args.text("path"))
        chunk = page(entries, args.integer("offset"), args.integer("limit"))
        data = {"path": shown, "entries": chunk.items, "total": chunk.total, "next_offset": chunk.next_offset}
        rows = [{**e, "name": e["name"] + (f" -> {e['target']}" if e["target"] else ""), "size": size(e["size"])}
                for e in chunk.items]
        columns = ["permissions", "owner", "group", "size", "modified", "name"]
        return result(data, joined(shown, table(rows, columns, "(empty)"), chunk.note("entries")), box.limit)

    async def stat_path(ctx: Context, args: Args) -> ToolResult:
        data = await asyncio.to_thread(_stat, box, args.text("path"))
        return result(data, fields(data), box.limit)

    async def read_file(ctx: Context, args: Args) -> ToolResult:
        length = args.integer("length")
        if length > box.config.max_read_bytes:
            raise ToolError(
                f"length {length} is more than the {box.config.max_read_bytes} bytes one read may return "
                "(tools.max_read_bytes): read the file in parts with offset and length"
            )
        data = await asyncio.to_thread(_read, box, args.text("path"), args.integer("offset"), length)
        return result(data, _render_read(data), max(box.limit, len(data["content"]) + 500))

    observe = Declarer(READ, box.timeout)
    return [
        observe("files_list", "List a directory", "List a directory under the allowed roots, page by page.",
                run=list_dir, inputs=LIST_INPUTS, output=s.listing("entries", ENTRY, path=s.string())),
        observe("files_stat", "File details", "Type, size, permissions, owner and times of one path "
                "(a symbolic link itself, not its target).", run=stat_path,
                inputs=s.inputs({"path": PATH}, ("path",)), output=_stat_schema()),
        observe("files_read", "Read a file", "Read a text file, or a byte range of any file (binary comes "
                "back as base64). Large files are read in parts: pass next_offset as offset.",
                run=read_file, inputs=_read_inputs(box), output=READ_OUTPUT),
    ]


def _read_inputs(box: Toolbox) -> s.Schema:
    return s.inputs(
        {
            "path": PATH,
            "offset": s.integer("First byte to read.", default=0, minimum=0),
            "length": s.integer(
                f"Bytes to read; at most {box.config.max_read_bytes} (tools.max_read_bytes).",
                default=min(box.config.max_read_bytes, box.limit), minimum=1,
            ),
        },
        required=("path",),
    )


def describe(name: str, info: os.stat_result, target: str | None) -> dict[str, Any]:
    """One directory entry for people and programs."""
    return {
        "name": name,
        "type": KINDS.get(stat.S_IFMT(info.st_mode), "other"),
        "size": info.st_size,
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "permissions": stat.filemode(info.st_mode),
        "owner": user_name(info.st_uid),
        "group": _group_name(info.st_gid),
        "modified": _iso(info.st_mtime),
        "target": target,
    }


def _list(box: Toolbox, path: str) -> tuple[str, list[dict[str, Any]]]:
    with box.roots.open(path, kind="dir") as (fd, shown):
        entries = []
        with os.scandir(fd) as found:
            for entry in found:
                try:
                    info = entry.stat(follow_symlinks=False)
                    target = os.readlink(entry.name, dir_fd=fd) if entry.is_symlink() else None
                except OSError:
                    continue  # removed while listed
                entries.append(describe(entry.name, info, target))
    return shown, sorted(entries, key=lambda e: str(e["name"]))


def _stat(box: Toolbox, path: str) -> dict[str, Any]:
    with box.roots.spot(path, follow_last=False) as spot:
        info = os.stat(spot.name or ".", dir_fd=spot.dir_fd, follow_symlinks=False)
        target = os.readlink(spot.name, dir_fd=spot.dir_fd) if stat.S_ISLNK(info.st_mode) and spot.name else None
    entry = describe(os.path.basename(spot.shown) or spot.shown, info, target)
    return {**entry, "path": spot.shown, "inode": info.st_ino, "links": info.st_nlink,
            "accessed": _iso(info.st_atime), "changed": _iso(info.st_ctime)}


def _stat_schema() -> s.Schema:
    extra = {"path": s.string(), "inode": s.integer(), "links": s.integer(),
             "accessed": s.string(), "changed": s.string()}
    return s.obj({**ENTRY["properties"], **extra}, required=(*ENTRY["required"], *extra))


def _read(box: Toolbox, path: str, offset: int, length: int) -> dict[str, Any]:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
    with box.roots.open(path, os.O_RDONLY | os.O_NONBLOCK) as (fd, shown):
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"{shown} is not a regular file ({KINDS.get(stat.S_IFMT(info.st_mode), 'other')})")
        data = os.pread(fd, length, offset)
    binary, content, used = decode(data)
    end = offset + used
    return {
        "path": shown, "size": info.st_size, "offset": offset, "length": used,
        "encoding": "base64" if binary else "utf-8", "content": content,
        "next_offset": end if end < info.st_size else None,
    }


def decode(data: bytes) -> tuple[bool, str, int]:
    """(binary?, content, bytes used): UTF-8 text as is; NUL bytes or invalid UTF-8 make it base64.

    A multi-byte character cut by the end of a range is left for the next read.
    """
    if not data:
        return False, "", 0
    if b"\0" not in data:
        for cut in range(min(4, len(data))):
            if cut and data[-cut] < 0xC0:  # only a lead byte starts a character the range cut off
                continue
            try:
                return False, data[: len(data) - cut].decode("utf-8"), len(data) - cut
            except UnicodeDecodeError:
                continue
    return True, base64.b64encode(data).decode("ascii"), len(data)


def _render_read(data: dict[str, Any]) -> str:
    end = data["offset"] + data["length"]
    span = f"[{data['path']}: bytes {data['offset']}-{end} of {data['size']}"
    more = f"; call again with offset={data['next_offset']} for more]" if data["next_offset"] is not None else "]"
    if data["encoding"] == "base64":
        return f"{span}{more}\nbinary data, base64:\n{data['content']}"
    if data["offset"] == 0 and data["next_offset"] is None:
        return str(data["content"])
    return f"{span}{more}\n{data['content']}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")
