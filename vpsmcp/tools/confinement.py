"""Keeping file access inside the configured roots, against tricks and races.

A path is first judged as text: it may not contain ``..`` or NUL, and an
absolute path must lie under a root (a relative one is taken from the first
root). It is then walked one component at a time from an open descriptor of
its root, each directory opened with ``O_NOFOLLOW`` relative to the last
(``openat``), so no symbolic link is ever followed by the kernel. A link met
on the way is read and resolved here: a target inside a root is followed, one
that leads outside is refused. Because every step opens relative to a
descriptor and never follows a link, swapping a component for a link between
the check and the use makes the open fail instead of escaping; and after the
final open, the descriptor's real path (``/proc/self/fd``) is checked again,
which also catches a directory moved out of the root mid-walk. This is
``openat2(RESOLVE_BENEATH)`` done in user space, which Python cannot call.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from vpsmcp.errors import ToolError
from vpsmcp.tools.declaration import os_error_text

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # as the kernel's own limit on links in one lookup
NO_ROOTS = "no file roots are configured: set [tools] roots to the directories these tools may use"


@dataclass(frozen=True, slots=True)
class Location:
    """A path judged as text: its root and the components below it."""

    root: str
    parts: tuple[str, ...]

    @property
    def shown(self) -> str:
        return os.path.join(self.root, *self.parts)


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a walk ended: an open directory and the name in it (``None``: that directory itself)."""

    dir_fd: int
    name: str | None
    shown: str


@dataclass(frozen=True, slots=True)
class Roots:
    """The directories file access is confined to, as real paths.

    ``names`` maps each way a root may be written — as configured, and as its
    real path — to the real path, so ``/var/www/x`` works when ``/var/www`` is
    a link to where the files really are.
    """

    paths: tuple[str, ...]
    names: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, configured: Sequence[str]) -> Roots:
        """The configured roots with their own symlinks resolved once, at start-up."""
        real = tuple(os.path.realpath(path) for path in configured)
        names = {os.path.normpath(path): root for path, root in zip(configured, real, strict=True)} | {r: r for r in real}
        return cls(real, tuple(names.items()))

    def locate(self, path: str) -> Location:
        """Judge ``path`` as text; raises ``ToolError`` for ``..``, NUL, or a path outside every root."""
        if not self.paths:
            raise ToolError(NO_ROOTS)
        if "\0" in path or path == "":
            raise ToolError("a path must be a non-empty string without NUL characters")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ToolError(f"refused {path!r}: a path may not contain '..'")
        if not path.startswith("/"):
            return Location(self.paths[0], tuple(parts))
        for name, root in sorted(self.names or [(r, r) for r in self.paths], key=lambda n: len(n[0]), reverse=True):
            root_parts = [p for p in name.split("/") if p]
            if parts[: len(root_parts)] == root_parts:
                return Location(root, tuple(parts[len(root_parts) :]))
        raise ToolError(f"refused {path!r}: outside the allowed roots ({', '.join(self.paths)})")

    def contains(self, real: str) -> bool:
        """Whether the real path ``real`` lies in a root."""
        return any(real == root or real.startswith(root.rstrip("/") + "/") for root in self.paths)

    def check_fd(self, fd: int, shown: str) -> None:
        """Refuse a descriptor whose real path has left the roots (moved or swapped mid-walk)."""
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not self.contains(real):
            raise ToolError(f"refused {shown!r}: it resolves outside the allowed roots")

    @contextmanager
    def spot(self, path: str, follow_last: bool = True) -> Iterator[Spot]:
        """Walk to ``path``: its parent directory's descriptor (checked) and its last name.

        ``follow_last``: resolve a link in the last component too (reading);
        off for acting on the link itself (stat, delete, rename).
        """
        location = self.locate(path)
        fd, name, shown = self._walk(location, follow_last)
        try:
            self.check_fd(fd, shown)
            yield Spot(fd, name, shown)
        except OSError as exc:  # an operation relative to the descriptor names only the bare name
            raise ToolError(os_error_text(exc, shown)) from None
        finally:
            os.close(fd)

    @contextmanager
    def open(self, path: str, flags: int = os.O_RDONLY, kind: str = "file") -> Iterator[tuple[int, str]]:
        """An open descriptor of the existing file (or, ``kind="dir"``, directory) at ``path``."""
        with self.spot(path) as spot:
            extra = os.O_DIRECTORY if kind == "dir" else 0
            try:
                fd = os.open(spot.name or ".", flags | extra | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=spot.dir_fd)
            except OSError as exc:
                raise ToolError(_open_error(exc, spot.shown, kind)) from None
        try:
            self.check_fd(fd, spot.shown)
            if kind == "file" and stat.S_ISDIR(os.fstat(fd).st_mode):
                raise ToolError(f"{spot.shown} is a directory")
            yield fd, spot.shown
        except OSError as exc:
            raise ToolError(os_error_text(exc, spot.shown)) from None
        finally:
            os.close(fd)

    def _walk(self, location: Location, follow_last: bool) -> tuple[int, str | None, str]:
        walk = _Walk(self, location)
        try:
            return walk.run(follow_last)
        except BaseException:
            os.close(walk.fd)
            raise


class _Walk:
    """One walk from a root down to a path, resolving links by hand."""

    def __init__(self, roots: Roots, location: Location) -> None:
        self.roots = roots
        self.location = location
        self.root = location.root
        self.done: list[str] = []
        self.todo = list(location.parts)
        self.links = 0
        self.fd = _open_below(self.root, [], location.shown)

    def run(self, follow_last: bool) -> tuple[int, str | None, str]:
        while self.todo:
            name = self.todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                self._up()
                continue
            shown = os.path.join(self.root, *self.done, name)
            last = not self.todo
            info = _lstat(name, self.fd, shown, last)
            is_link = info is not None and stat.S_ISLNK(info.st_mode)
            if last and not (follow_last and is_link):
                return self.fd, name, shown
            if is_link:
                self._follow(name, shown)
                continue
            step = _open_dir_at(self.fd, name, shown)
            os.close(self.fd)
            self.fd = step
            self.done.append(name)
        return self.fd, None, os.path.join(self.root, *self.done)

    def _up(self) -> None:
        """A ``..`` from a link's target: one level up, never above the root."""
        if not self.done:
            raise ToolError(f"refused {self.location.shown!r}: a link in it leads outside the allowed roots")
        self.done.pop()
        self._reopen()

    def _follow(self, name: str, shown: str) -> None:
        """Put the target of the link ``name`` in front of what is left to walk."""
        self.links += 1
        if self.links > MAX_LINKS:
            raise ToolError(f"too many levels of symbolic links in {self.location.shown}")
        target = os.readlink(name, dir_fd=self.fd)
        if not target.startswith("/"):
            self.todo = [*target.split("/"), *self.todo]
            return
        try:
            jump = self.roots.locate(target)
        except ToolError:
            raise ToolError(
                f"refused {self.location.shown!r}: {shown} links to {target}, outside the allowed roots"
            ) from None
        self.root, self.done, self.todo = jump.root, [], [*jump.parts, *self.todo]
        self._reopen()

    def _reopen(self) -> None:
        fd = _open_below(self.root, self.done, self.location.shown)
        os.close(self.fd)
        self.fd = fd


def _lstat(name: str, dir_fd: int, shown: str, last: bool) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        if last:
            return None
        raise ToolError(f"not found: {shown}") from None
    except OSError as exc:
        raise ToolError(os_error_text(exc, shown)) from None


def _open_dir_at(dir_fd: int, name: str, shown: str) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise ToolError(_open_error(exc, shown, "dir")) from None


def _open_below(root: str, parts: list[str], shown: str) -> int:
    """A descriptor of ``root``/``parts``, no link followed (the components were resolved already)."""
    try:
        fd = os.open(root, DIR_FLAGS)
    except OSError as exc:
        raise ToolError(f"the root {root} cannot be opened: {os_error_text(exc)}") from None
    for name in parts:
        try:
            step = _open_dir_at(fd, name, shown)
        finally:
            os.close(fd)
        fd = step
    return fd


def _open_error(exc: OSError, shown: str, kind: str) -> str:
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link where the walk had seen none
        return f"refused {shown!r}: it changed while it was opened (a link was swapped in)"
    if isinstance(exc, NotADirectoryError) and kind == "dir":
        return f"not a directory: {shown}"
    return os_error_text(exc, shown)
