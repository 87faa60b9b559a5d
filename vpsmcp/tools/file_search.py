"""Finding files under the allowed roots by name and by content.

The walk is ``os.fwalk`` from a confined directory descriptor with links not
followed (a link swapped in for a directory is never descended into), in name
order so that ``offset`` pages are stable. Content search is a plain substring
match, line by line, in text files no larger than ``tools.max_read_bytes``:
no regular expressions, which could run for ever on one line. The search
stops at its deadline and says so.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import READ
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer
from vpsmcp.tools.rendering import joined, result, table
from vpsmcp.tools.toolbox import Toolbox

LINE_CHARS = 300  # characters of a matching line returned
BINARY_PROBE = 8192
MATCH = s.obj(
    {
        "path": s.string(),
        "type": s.string("file, directory, symlink or other."),
        "line": s.nullable(s.integer("Line number of a content match.")),
        "text": s.nullable(s.string("The matching line.")),
    },
    required=("path", "type", "line", "text"),
)
OUTPUT = s.obj(
    {
        "matches": s.array(MATCH),
        "total": s.integer("Matches found so far (the search stops once a page is full)."),
        "next_offset": s.nullable(s.integer("Pass as offset for more matches; null when there are none.")),
        "complete": s.boolean("False when the deadline stopped the search early."),
        "files_searched": s.integer(),
        "files_skipped": s.integer("Files too large, binary or unreadable, left out of a content search."),
    },
    required=("matches", "total", "next_offset", "complete", "files_searched", "files_skipped"),
)


@dataclass
class _Search:
    name: str | None
    needle: str | None
    case_sensitive: bool
    max_depth: int
    wanted: int
    deadline: float
    max_bytes: int
    matches: list[dict[str, Any]] = field(default_factory=list)
    searched: int = 0
    skipped: int = 0
    complete: bool = True


def tools(box: Toolbox) -> list[Tool]:
    """files_search."""
    inputs = s.inputs(
        {
            "path": s.string("Directory to search, under the allowed roots.", default="."),
            "name": s.string("Shell pattern on file names, e.g. *.conf."),
            "content": s.string("Text the file must contain (a plain substring, not a pattern)."),
            "case_sensitive": s.boolean(default=False),
            "max_depth": s.integer("Directory levels to descend.", default=20, minimum=0, maximum=100),
            **s.paging(100, 1000),
        }
    )

    async def search(ctx: Context, args: Args) -> ToolResult:
        offset, limit = args.integer("offset"), args.integer("limit")
        job = _Search(
            name=args.text_or_none("name"), needle=args.text_or_none("content"),
            case_sensitive=args.flag("case_sensitive"), max_depth=args.integer("max_depth"),
            wanted=offset + limit + 1, deadline=time.monotonic() + box.timeout * 0.8,
            max_bytes=box.config.max_read_bytes,
        )
        await asyncio.to_thread(_walk, box, args.text("path"), job)
        shown = job.matches[offset : offset + limit]
        more = len(job.matches) > offset + limit
        data = {
            "matches": shown, "total": len(job.matches), "next_offset": offset + limit if more else None,
            "complete": job.complete, "files_searched": job.searched, "files_skipped": job.skipped,
        }
        return result(data, _render(data), box.limit)

    return [
        Declarer(READ, box.timeout)(
            "files_search", "Search files", "Find files under a directory by name pattern and/or by text they "
            "contain; returns paths (and matching lines), page by page.", search, inputs, OUTPUT,
        ),
    ]


def _walk(box: Toolbox, path: str, job: _Search) -> None:
    with box.roots.open(path, kind="dir") as (top, shown):
        for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            dirnames.sort()
            if dirpath.count("/") >= job.max_depth:
                dirnames.clear()
            here = os.path.normpath(os.path.join(shown, dirpath))
            for name in sorted(dirnames + filenames):
                if len(job.matches) >= job.wanted:
                    return
                if time.monotonic() > job.deadline:
                    job.complete = False
                    return
                if job.name is None or fnmatch.fnmatchcase(name, job.name):
                    _consider(job, dir_fd, name, os.path.join(here, name))


def _consider(job: _Search, dir_fd: int, name: str, path: str) -> None:
    if job.needle is None:
        job.matches.append({"path": path, "type": _kind(dir_fd, name), "line": None, "text": None})
        return
    text = _text_of(job, dir_fd, name)
    if text is None:
        return
    needle = job.needle if job.case_sensitive else job.needle.casefold()
    for number, line in enumerate(text.splitlines(), 1):
        if needle in (line if job.case_sensitive else line.casefold()):
            job.matches.append({"path": path, "type": "file", "line": number, "text": line[:LINE_CHARS]})
            if len(job.matches) >= job.wanted:
                return


def _text_of(job: _Search, dir_fd: int, name: str) -> str | None:
    """The file's text, or ``None`` (counted as skipped) when it is not a small readable text file."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None  # a link, or unreadable: not searched
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        job.searched += 1
        if info.st_size > job.max_bytes:
            job.skipped += 1
            return None
        data = os.read(fd, job.max_bytes)
    except OSError:
        job.skipped += 1
        return None
    finally:
        os.close(fd)
    if b"\0" in data[:BINARY_PROBE]:
        job.skipped += 1
        return None
    return data.decode("utf-8", "replace")


def _kind(dir_fd: int, name: str) -> str:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return "other"
    kinds = {stat.S_IFLNK: "symlink", stat.S_IFREG: "file", stat.S_IFDIR: "directory"}
    return kinds.get(stat.S_IFMT(mode), "other")


def _render(data: dict[str, Any]) -> str:
    columns = ["path", "line", "text"] if any(m["line"] for m in data["matches"]) else ["type", "path"]
    notes = []
    if data["next_offset"] is not None:
        notes.append(f"[more matches: call again with offset={data['next_offset']}]")
    if not data["complete"]:
        notes.append("[the search stopped at its time limit: narrow it with path, name or max_depth]")
    if data["files_skipped"]:
        notes.append(f"[{data['files_skipped']} large, binary or unreadable files were not searched]")
    return joined(table(data["matches"], columns, "(no matches)"), "\n".join(notes))
