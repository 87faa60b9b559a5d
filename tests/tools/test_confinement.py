"""The root confinement itself, step by step, without a server: each check-then-use race made to happen.

Over HTTP (test_tools_files.py) a swap races the server and may or may not
hit; here the swap is done exactly between the walk and the open, and
between the walk and the use of its directory, so the refusal is certain.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vpsmcp.errors import ToolError
from vpsmcp.tools.confinement import NO_ROOTS, Roots


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    (tmp_path / "root" / "dir").mkdir(parents=True)
    (tmp_path / "root" / "dir" / "file").write_text("inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file").write_text("outside")
    return Roots.of([str(tmp_path / "root")])


@pytest.mark.parametrize(("path", "parts"), [
    ("dir/file", ("dir", "file")), ("./dir//file", ("dir", "file")), ("", None), (".", ()),
    ("dir/../dir/file", None), ("..", None), ("a\0b", None), ("{root}/dir", ("dir",)), ("{root}", ()),
    ("/etc/passwd", None), ("{root}-sibling/x", None),
])
def test_paths_are_judged_as_text_first(roots: Roots, path: str, parts: tuple[str, ...] | None) -> None:
    path = path.format(root=roots.paths[0])
    if parts is None:
        with pytest.raises(ToolError):
            roots.locate(path)
    else:
        assert roots.locate(path).parts == parts


def test_no_roots_means_no_file_access() -> None:
    with pytest.raises(ToolError, match="no file roots are configured"):
        Roots(()).locate("/tmp")
    assert "[tools] roots" in NO_ROOTS


def test_a_link_swapped_in_after_the_walk_is_not_followed_by_the_open(roots: Roots, tmp_path: Path) -> None:
    target = tmp_path / "root" / "dir" / "file"
    with roots.spot("dir/file") as spot:
        target.unlink()
        target.symlink_to(tmp_path / "outside" / "file")  # the swap, between check and use
        with pytest.raises(OSError) as refused:
            os.open(spot.name or ".", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=spot.dir_fd)
    assert refused.value.errno == 40  # ELOOP: O_NOFOLLOW met the link


def test_open_refuses_a_file_that_became_a_link_outside(roots: Roots, tmp_path: Path) -> None:
    target = tmp_path / "root" / "dir" / "file"
    target.unlink()
    target.symlink_to(tmp_path / "outside" / "file")
    with pytest.raises(ToolError, match="outside the allowed roots"):
        with roots.open("dir/file"):
            pass


def test_a_directory_moved_out_of_the_root_mid_walk_is_refused(roots: Roots, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="resolves outside the allowed roots"):
        with roots.spot("dir/file") as spot:
            os.rename(tmp_path / "root" / "dir", tmp_path / "outside" / "moved")  # the held descriptor goes along
            roots.check_fd(spot.dir_fd, spot.shown)  # what every use re-checks (open() does, after opening)


def test_a_directory_swapped_for_a_link_during_the_walk_stops_the_walk(roots: Roots, tmp_path: Path) -> None:
    (tmp_path / "root" / "dir").rename(tmp_path / "root" / "dir.real")
    (tmp_path / "root" / "dir").symlink_to(tmp_path / "outside")
    with pytest.raises(ToolError, match="outside the allowed roots"):
        with roots.open("dir/file"):
            pass


def test_link_loops_end_with_an_error(roots: Roots, tmp_path: Path) -> None:
    (tmp_path / "root" / "a").symlink_to("b")
    (tmp_path / "root" / "b").symlink_to("a")
    with pytest.raises(ToolError, match="too many levels of symbolic links"):
        with roots.open("a"):
            pass


def test_a_link_into_another_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "f").write_text("two")
    (tmp_path / "one" / "to-two").symlink_to(tmp_path / "two")
    roots = Roots.of([str(tmp_path / "one"), str(tmp_path / "two")])
    with roots.open("to-two/f") as (fd, shown):
        assert os.read(fd, 10) == b"two" and shown == str(tmp_path / "two" / "f")


def test_a_root_given_through_a_link_is_resolved_once_and_known_by_both_names(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    roots = Roots.of([str(tmp_path / "alias")])
    assert roots.paths == (str(tmp_path / "real"),)
    for path in (tmp_path / "real" / "f", tmp_path / "alias" / "f"):
        with roots.open(str(path)) as (fd, shown):
            assert os.read(fd, 1) == b"x" and shown == str(tmp_path / "real" / "f")
