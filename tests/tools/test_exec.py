"""exec for real, through the official SDK client over HTTP, in both protocol eras.

Real commands run in a temporary root; shell metacharacters stay plain
arguments; a long command streams its output as progress notifications while
it runs; cancelling the call stops the whole process tree; the allowlist and
the shell switch refuse what they must. Every call lands in the audit log.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.helpers.tool_server import MODES, ToolServer, data, error_text, serving, start_tool_server, tools_config
from vpsmcp.config.sections import parse_config
from vpsmcp.errors import ConfigError
from vpsmcp.process_groups import PASSED_ENV
from vpsmcp.tools import execute
from vpsmcp.tools.procfs import processes, read_process

pytestmark = pytest.mark.slow

LIMIT = 65536


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exec") / "root"
    (path / "sub").mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[ToolServer]:
    yield from serving(root.parent, tools_config([root], exec_enabled=True, output_limit=LIMIT))


def test_a_command_runs_with_its_exit_status_and_both_streams(server: ToolServer) -> None:
    done = data(server.call("exec", {"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]}))
    assert (done["exit_code"], done["stdout"], done["stderr"]) == (3, "out\n", "err\n")
    assert done["timed_out"] is False and done["signal"] is None and done["truncated"] is False


def test_the_working_directory_is_the_first_root_or_one_inside_the_roots(server: ToolServer, root: Path) -> None:
    assert data(server.call("exec", {"command": ["pwd"]}))["stdout"] == f"{root}\n"
    assert data(server.call("exec", {"command": ["pwd"], "cwd": "sub"}))["stdout"] == f"{root / 'sub'}\n"
    assert "outside the allowed roots" in error_text(server.call("exec", {"command": ["pwd"], "cwd": "/etc"}))
    assert "may not contain '..'" in error_text(server.call("exec", {"command": ["pwd"], "cwd": "sub/../.."}))


def test_a_command_inherits_only_the_variables_every_program_needs(server: ToolServer) -> None:
    """The server's environment may hold secrets: a command sees PATH and HOME, not the rest
    (this server runs with PYTHONPATH set, which must not reach ``env``)."""
    seen = dict(line.split("=", 1) for line in data(server.call("exec", {"command": ["env"]}))["stdout"].splitlines())
    assert "PATH" in seen and seen["HOME"] == str(server.state.parent), seen
    assert "PYTHONPATH" not in seen and set(seen) <= set(PASSED_ENV), seen


def test_shell_metacharacters_are_plain_arguments(server: ToolServer, root: Path) -> None:
    tricks = ["a; touch PWNED1", "$(touch PWNED2)", "`touch PWNED3`", "|", "touch PWNED4", "> PWNED5", "&&", "*"]
    done = data(server.call("exec", {"command": ["printf", "%s\\n", *tricks]}))
    assert done["stdout"].splitlines() == tricks
    assert not list(root.glob("PWNED*")), "a metacharacter was interpreted by a shell"


def test_a_shell_line_is_refused_while_exec_allow_shell_is_off(server: ToolServer, root: Path) -> None:
    message = error_text(server.call("exec", {"shell": "touch SHELLED"}))
    assert "tools.exec_allow_shell" in message and not (root / "SHELLED").exists()


def test_stdin_reaches_the_command(server: ToolServer) -> None:
    assert data(server.call("exec", {"command": ["tr", "a-z", "A-Z"], "stdin": "shout\n"}))["stdout"] == "SHOUT\n"


def test_a_command_past_its_timeout_is_stopped(server: ToolServer) -> None:
    started = time.monotonic()
    done = data(server.call("exec", {"command": ["sleep", "30"], "timeout": 0.5}))
    assert done["timed_out"] is True and done["signal"] == "SIGTERM" and done["exit_code"] is None
    assert time.monotonic() - started < 10


def test_long_output_is_cut_with_a_marker_and_counted(server: ToolServer) -> None:
    done = data(server.call("exec", {"command": ["head", "-c", "300000", "/dev/zero"]}))
    assert done["truncated"] is True and done["stdout_bytes"] == 300000
    assert "[output cut: 65536 of 300000 bytes shown;" in done["stdout"]


def test_an_unknown_program_is_a_clear_error(server: ToolServer) -> None:
    assert "command not found: no-such-program-x" in error_text(server.call("exec", {"command": ["no-such-program-x"]}))


@pytest.mark.parametrize("mode", MODES)
def test_output_streams_as_progress_while_the_command_runs(server: ToolServer, mode: str) -> None:
    seen: list[tuple[str, float]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((message or "", time.monotonic()))

    async def conversation() -> float:
        async with server.client(mode) as client:
            server.calls.append("exec")
            script = "for i in 1 2 3 4; do echo step $i; sleep 0.4; done"
            result = await client.call_tool("exec", {"command": ["sh", "-c", script]}, progress_callback=on_progress)
            assert data(result)["stdout"] == "step 1\nstep 2\nstep 3\nstep 4\n"
            return time.monotonic()

    returned_at = server.run(conversation)
    streamed = "".join(message for message, _ in seen)
    assert "step 1\n" in streamed and "step 3\n" in streamed, seen
    first = next(at for message, at in seen if "step 1" in message)
    assert returned_at - first >= 0.8, "output arrived only when the command had finished"


@pytest.mark.parametrize("mode", MODES)
def test_cancelling_a_silent_call_stops_the_whole_process_tree(server: ToolServer, mode: str) -> None:
    """The command prints nothing, so the cancellation cannot ride on a failed write: it must be heard."""
    marker = f"cancel-me-{mode}-{uuid.uuid4().hex}"
    tree: list[int] = []

    async def conversation() -> None:
        async with server.client(mode) as client:
            async with anyio.create_task_group() as group:
                async def call() -> None:
                    server.calls.append("exec")
                    await client.call_tool("exec", {"command": ["sh", "-c", SPAWN, marker]})

                group.start_soon(call)
                while len(tree) < 3:  # the shell and its two sleeps are running
                    await anyio.sleep(0.05)
                    tree[:] = _tree_of(marker)
                group.cancel_scope.cancel()

    server.run(conversation)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in tree if _alive(pid)], "processes of the cancelled command are still running"


SPAWN = "sleep 300 & sleep 300 & wait"  # $0 is the marker


def _tree_of(marker: str) -> list[int]:
    everything = processes()
    leaders = [p.pid for p in everything if p.command.startswith("sh -c") and p.command.endswith(marker)]
    return leaders + [p.pid for p in everything if p.ppid in leaders]


def _alive(pid: int) -> bool:
    process = read_process(pid)
    return process is not None and not process.zombie


def test_the_allowlist_admits_matching_commands_and_refuses_others(tmp_path: Path) -> None:
    config = tools_config([tmp_path], exec_enabled=True, exec_allow_shell=True, exec_allow=["echo *", "true"])
    server = start_tool_server(tmp_path, config)
    try:
        assert data(server.call("exec", {"command": ["echo", "hi"]}))["stdout"] == "hi\n"
        assert data(server.call("exec", {"command": ["true"]}))["exit_code"] == 0
        refused = error_text(server.call("exec", {"command": ["touch", "x"]}))
        assert "refused: 'touch x' matches none of the commands tools.exec_allow permits" in refused
        # A shell line could chain anything after an allowed prefix: refused whenever there is an allowlist.
        assert "cannot be checked against tools.exec_allow" in error_text(
            server.call("exec", {"shell": "echo hi; touch x"}))
        assert not (tmp_path / "x").exists()
    finally:
        records = server.check_audit()
    assert [r["status"] for r in records] == ["ok", "ok", "tool_error", "tool_error"]


def test_a_shell_line_runs_when_allowed(tmp_path: Path) -> None:
    server = start_tool_server(tmp_path, tools_config([tmp_path], exec_enabled=True, exec_allow_shell=True))
    try:
        assert data(server.call("exec", {"shell": "echo one two | wc -w"}))["stdout"].strip() == "2"
    finally:
        server.check_audit()


def test_exec_is_neither_listed_nor_callable_until_enabled(tmp_path: Path) -> None:
    server = start_tool_server(tmp_path, tools_config([tmp_path]))
    try:
        assert "exec" not in server.tools()
        error = server.refused("exec", {"command": ["id"]})
        assert "Unknown tool: exec" in str(error)
    finally:
        records = server.check_audit()
    assert records[0]["status"] == "refused"


@pytest.mark.parametrize(("argv", "pattern", "allowed"), [
    (["cat", "/srv/app.log"], "cat /srv/*", True),
    (["cat", "/srv/app/deep/log"], "cat /srv/*", True),
    (["cat", "/srv/../etc/shadow"], "cat /srv/*", False),  # normalised: /etc/shadow
    (["cat", "/srv/./../etc/shadow"], "cat /srv/*", False),
    (["cat", "//srv/../etc/passwd"], "cat /srv/*", False),
    (["cat", "/srv/a", "/etc/shadow"], "cat /srv/*", False),  # one word, one argument
    (["git", "status", "--short"], "git *", True),
    (["git"], "git *", True),
    (["gitx", "status"], "git *", False),
    (["systemctl", "status", "nginx"], "systemctl status *", True),
    (["systemctl", "restart", "nginx"], "systemctl status *", False),
    (["echo", "a b"], "echo 'a b'", True),
    (["echo", "a", "b"], "echo 'a b'", False),
])
def test_exec_allow_matches_argument_by_argument_on_normalised_paths(argv: list[str], pattern: str, allowed: bool) -> None:
    assert execute.allowed(argv, pattern) is allowed


@pytest.mark.parametrize("pattern", ["", "echo 'unbalanced"])
def test_an_exec_allow_pattern_that_is_no_command_line_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError, match="tools.exec_allow"):
        parse_config(f"[tools]\nexec_allow = [{json.dumps(pattern)}]\n", "vpsmcp.toml")
