"""The files tools for real, through the official SDK client over HTTP: confined to a temporary root.

Every escape the issue names is tried — ``..``, absolute paths outside, links
that lead out, a link swapped in between check and use — and each must be
refused without the outside file's content ever appearing. The audit log
must hold every call made here (checked when the module's server stops).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.tool_server import ToolServer, call_many, data, error_text, serving, text_of, tools_config

pytestmark = pytest.mark.slow

SECRET = "outside-secret-do-not-leak"
MAX_READ = 4096


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("files")
    (base / "root").mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "secret").write_text(SECRET)
    return base


@pytest.fixture(scope="module")
def server(place: Path) -> Iterator[ToolServer]:
    yield from serving(place, tools_config([place / "root"], max_read_bytes=MAX_READ))


@pytest.fixture
def root(place: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh directory of the root for one test (relative paths are given from the root)."""
    path = place / "root" / re.sub(r"\W", "_", str(request.node.name))
    path.mkdir()
    return path


def rel(root: Path, *parts: str) -> str:
    return "/".join([root.name, *parts])


def test_files_tools_are_listed_with_schemas_annotations_and_no_exec(server: ToolServer) -> None:
    tools = server.tools()
    assert {"files_list", "files_stat", "files_read", "files_search", "files_write", "files_mkdir", "files_move",
            "files_delete"} <= tools.keys()
    assert "exec" not in tools  # off unless tools.exec_enabled
    read, delete = tools["files_read"], tools["files_delete"]
    assert read.output_schema is not None and read.input_schema["required"] == ["path"]
    assert read.annotations is not None and read.annotations.read_only_hint is True
    assert delete.annotations is not None and delete.annotations.destructive_hint is True
    assert delete.annotations.read_only_hint is False


def test_list_stat_and_read_a_text_file(server: ToolServer, root: Path) -> None:
    (root / "notes.txt").write_text("hello\nwörld\n")
    (root / "sub").mkdir()
    listed = data(server.call("files_list", {"path": rel(root)}))
    assert [(e["name"], e["type"]) for e in listed["entries"]] == [("notes.txt", "file"), ("sub", "directory")]
    assert listed["next_offset"] is None and listed["total"] == 2
    info = data(server.call("files_stat", {"path": str(root / "notes.txt")}))
    assert info["size"] == len("hello\nwörld\n".encode()) and info["type"] == "file"
    read = server.call("files_read", {"path": rel(root, "notes.txt")})
    assert data(read)["content"] == "hello\nwörld\n" and data(read)["encoding"] == "utf-8"
    assert text_of(read) == "hello\nwörld\n"


def test_a_large_file_is_read_in_pages_that_add_up_to_it(server: ToolServer, root: Path) -> None:
    content = "".join(f"line {n:05d} é\n" for n in range(1000))  # multi-byte characters cross page ends
    (root / "big.log").write_text(content)
    pieces, offset = [], 0
    while offset is not None:
        page = data(server.call("files_read", {"path": rel(root, "big.log"), "offset": offset}))
        assert page["length"] <= MAX_READ
        pieces.append(page["content"])
        offset = page["next_offset"]
    assert len(pieces) > 3 and "".join(pieces) == content


def test_a_read_larger_than_the_limit_is_refused(server: ToolServer, root: Path) -> None:
    (root / "f").write_text("x" * 10)
    message = error_text(server.call("files_read", {"path": rel(root, "f"), "length": MAX_READ + 1}))
    assert "tools.max_read_bytes" in message


def test_binary_data_is_detected_and_returned_as_base64(server: ToolServer, root: Path) -> None:
    blob = bytes(range(256))
    (root / "blob.bin").write_bytes(blob)
    read = data(server.call("files_read", {"path": rel(root, "blob.bin")}))
    assert read["encoding"] == "base64" and base64.b64decode(read["content"]) == blob


@pytest.mark.parametrize("path", ["../outside/secret", "{root}/../../outside/secret", "./../outside/secret"])
def test_dot_dot_is_refused(server: ToolServer, root: Path, path: str) -> None:
    message = error_text(server.call("files_read", {"path": path.format(root=root)}))
    assert "may not contain '..'" in message and SECRET not in message


def test_an_absolute_path_outside_the_roots_is_refused(server: ToolServer, place: Path) -> None:
    for path in (str(place / "outside" / "secret"), "/etc/passwd", str(place / "root-sibling")):
        message = error_text(server.call("files_read", {"path": path}))
        assert "outside the allowed roots" in message and SECRET not in message


def test_links_that_lead_out_are_refused_for_every_operation(server: ToolServer, root: Path, place: Path) -> None:
    (root / "to-file").symlink_to(place / "outside" / "secret")
    (root / "to-dir").symlink_to(place / "outside")
    (root / "relative").symlink_to("../../outside/secret")
    for name, arguments in [
        ("files_read", {"path": rel(root, "to-file")}),
        ("files_read", {"path": rel(root, "to-dir", "secret")}),
        ("files_read", {"path": rel(root, "relative")}),
        ("files_list", {"path": rel(root, "to-dir")}),
        ("files_write", {"path": rel(root, "to-file"), "content": "pwned"}),
        ("files_write", {"path": rel(root, "to-dir", "new"), "content": "pwned"}),
        ("files_delete", {"path": rel(root, "to-dir", "secret")}),
    ]:
        message = error_text(server.call(name, arguments))
        assert "refused" in message and "outside the allowed roots" in message, (name, message)
        assert SECRET not in message
    assert (place / "outside" / "secret").read_text() == SECRET
    assert sorted(os.listdir(place / "outside")) == ["secret"]


def test_a_link_that_stays_inside_the_root_is_followed(server: ToolServer, root: Path) -> None:
    (root / "real.conf").write_text("inside")
    (root / "alias.conf").symlink_to("real.conf")
    assert data(server.call("files_read", {"path": rel(root, "alias.conf")}))["content"] == "inside"
    info = data(server.call("files_stat", {"path": rel(root, "alias.conf")}))
    assert info["type"] == "symlink" and info["target"] == "real.conf"


def test_a_link_swapped_in_between_check_and_use_never_leaks_outside(
    server: ToolServer, root: Path, place: Path
) -> None:
    """A thread keeps swapping a file (and a directory) for links to outside while reads go on."""
    outside = place / "outside"
    _become_file(root / "race", "inside")
    _become_dir(root / "d", "inside")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            _become_link(root / "race", outside / "secret")
            _become_file(root / "race", "inside")
            _become_link(root / "d", outside)
            _become_dir(root / "d", "inside")

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        calls = [{"path": rel(root, "race")}, {"path": rel(root, "d", "secret")}] * 150
        results = call_many(server, "files_read", calls)
    finally:
        stop.set()
        swapper.join(5)
    outcomes = {"read": 0, "refused": 0}
    for result in results:
        shown = text_of(result)
        assert SECRET not in shown and SECRET not in str(result.structured_content), "read through a swapped link"
        outcomes["refused" if result.is_error else "read"] += 1
    assert outcomes["refused"] > 0, "the swap never hit; the race was not exercised"


def _become_link(path: Path, target: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.symlink_to(target)
    if path.is_dir() and not path.is_symlink():
        os.rename(path, path.with_name(path.name + ".old"))
        os.replace(tmp, path)
        shutil.rmtree(path.with_name(path.name + ".old"))
    else:
        os.replace(tmp, path)


def _become_file(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _become_dir(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir()
    (tmp / "secret").write_text(text)
    path.unlink(missing_ok=True)
    os.rename(tmp, path)


def test_write_overwrite_keeps_mode_replaces_atomically_and_backs_up(server: ToolServer, root: Path) -> None:
    target = root / "app.conf"
    target.write_text("old\n")
    target.chmod(0o640)
    before = target.stat().st_ino
    done = data(server.call("files_write", {"path": rel(root, "app.conf"), "content": "new\n"}))
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != before, "not replaced by a rename"
    assert done["backup"] and Path(done["backup"]).read_text() == "old\n"
    assert Path(done["backup"]).is_relative_to(server.state / "backups")
    assert stat.S_IMODE(Path(done["backup"]).stat().st_mode) == 0o600
    assert sorted(os.listdir(root)) == ["app.conf"], "a temporary file was left behind"


def test_write_create_refuses_to_replace_and_append_adds(server: ToolServer, root: Path) -> None:
    created = data(server.call("files_write", {"path": rel(root, "new.txt"), "content": "a\n", "mode": "create",
                                               "permissions": "0600"}))
    assert created["created"] is True and stat.S_IMODE((root / "new.txt").stat().st_mode) == 0o600
    assert "exists" in error_text(server.call("files_write", {"path": rel(root, "new.txt"), "content": "b",
                                                               "mode": "create"}))
    server.call("files_write", {"path": rel(root, "new.txt"), "content": "b\n", "mode": "append", "backup": False})
    assert (root / "new.txt").read_text() == "a\nb\n"
    payload = base64.b64encode(b"\x00\x01binary").decode()
    server.call("files_write", {"path": rel(root, "b.bin"), "content": payload, "encoding": "base64"})
    assert (root / "b.bin").read_bytes() == b"\x00\x01binary"


def test_mkdir_move_and_delete(server: ToolServer, root: Path) -> None:
    assert data(server.call("files_mkdir", {"path": rel(root, "a", "b"), "parents": True}))["created"] is True
    (root / "a" / "b" / "f.txt").write_text("x")
    moved = data(server.call("files_move", {"source": rel(root, "a", "b", "f.txt"), "destination": rel(root, "g.txt")}))
    assert moved["replaced"] is False and (root / "g.txt").read_text() == "x"
    (root / "h.txt").write_text("y")
    refused = error_text(server.call("files_move", {"source": rel(root, "h.txt"), "destination": rel(root, "g.txt")}))
    assert "overwrite" in refused and (root / "g.txt").read_text() == "x"
    assert "not empty" in error_text(server.call("files_delete", {"path": rel(root, "a")}))
    assert data(server.call("files_delete", {"path": rel(root, "a"), "recursive": True}))["type"] == "directory"
    deleted = data(server.call("files_delete", {"path": rel(root, "g.txt")}))
    assert not (root / "a").exists() and not (root / "g.txt").exists()
    assert Path(deleted["backup"]).read_text() == "x"


def test_the_root_itself_cannot_be_deleted_or_replaced(server: ToolServer, place: Path) -> None:
    assert "allowed root itself" in error_text(server.call("files_delete", {"path": str(place / "root"),
                                                                            "recursive": True}))
    assert (place / "root").is_dir()


def test_search_by_name_and_content_stays_inside_the_root(server: ToolServer, root: Path, place: Path) -> None:
    (root / "x").mkdir()
    (root / "x" / "a.conf").write_text("listen 80;\nserver_name example;\n")
    (root / "b.conf").write_text("nothing here\n")
    (root / "c.txt").write_text("listen 443;\n")
    (root / "out").symlink_to(place / "outside")
    (place / "outside" / "listen.conf").write_text("listen 8080;\n")
    try:
        by_name = data(server.call("files_search", {"path": rel(root), "name": "*.conf"}))
        assert sorted(m["path"] for m in by_name["matches"]) == [str(root / "b.conf"), str(root / "x" / "a.conf")]
        by_content = data(server.call("files_search", {"path": rel(root), "content": "LISTEN"}))
        assert sorted((m["path"], m["line"]) for m in by_content["matches"]) == [
            (str(root / "c.txt"), 1), (str(root / "x" / "a.conf"), 1)]
        paged = data(server.call("files_search", {"path": rel(root), "content": "listen", "limit": 1}))
        assert len(paged["matches"]) == 1 and paged["next_offset"] == 1
    finally:
        (place / "outside" / "listen.conf").unlink()


def test_bad_arguments_get_a_clear_error(server: ToolServer, root: Path) -> None:
    assert "unknown argument(s): colour" in error_text(server.call("files_list", {"path": rel(root), "colour": 1}))
    assert "expected a string" in error_text(server.call("files_read", {"path": 42}))
    assert "not found" in error_text(server.call("files_read", {"path": rel(root, "missing")}))
    assert "is a directory" in error_text(server.call("files_read", {"path": rel(root)}))


def test_permission_denied_is_a_clear_tool_error(server: ToolServer, root: Path) -> None:
    locked = root / "locked.txt"
    locked.write_text("keep")
    if os.geteuid() == 0:  # root passes permission bits; only the immutable attribute stops it
        subprocess.run(["chattr", "+i", str(locked)], check=True)
    else:
        root.chmod(0o500)
    try:
        message = error_text(server.call("files_delete", {"path": rel(root, "locked.txt"), "backup": False}))
        assert message.startswith("permission denied: ") and str(root) in message
        assert "Traceback" not in message
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        else:
            root.chmod(0o700)
    assert locked.read_text() == "keep"
