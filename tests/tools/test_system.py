"""status, processes, services, logs, containers and network for real on this machine, over HTTP.

Where systemd, its journal or a container engine is missing (this sandbox has
no systemd as PID 1 and no Docker engine), the tool must say so plainly; on a
machine that has them, the same test checks the real answer instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers.tool_server import ToolServer, data, error_text, serving, tools_config
from vpsmcp.tools.logs import journal_present

pytestmark = pytest.mark.slow

SYSTEMD = os.path.isdir("/run/systemd/system")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("system") / "logs"


@pytest.fixture(scope="module")
def server(logs: Path) -> Iterator[ToolServer]:
    logs.mkdir()
    yield from serving(logs.parent, tools_config([logs], services_allow=["nginx"]))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway process to look at and signal."""
    proc = subprocess.Popen(["sleep", "987.654"])
    yield proc
    proc.kill()
    proc.wait()


def port_of(server: ToolServer) -> int:
    port = urlsplit(server.proc.url).port
    assert port is not None
    return port


def test_status_describes_this_machine(server: ToolServer) -> None:
    status = data(server.call("status"))
    assert status["hostname"] == socket.gethostname()
    assert status["cpu"]["count"] == os.cpu_count() and 0 <= status["cpu"]["percent"] <= 100
    assert status["memory"]["total"] > status["memory"]["available"] > 0
    assert any(d["mount"] == "/" for d in status["disks"]), status["disks"]
    assert 0 < len(status["top_cpu"]) <= 5 and 0 < len(status["top_memory"]) <= 5
    ours = [s for s in status["listening"] if s["port"] == port_of(server)]
    assert ours and ours[0]["pid"] == server.proc.proc.pid  # type: ignore[union-attr]


def test_processes_are_listed_and_filtered(server: ToolServer, sleeper: subprocess.Popen[bytes]) -> None:
    found = data(server.call("processes_list", {"match": "987.654"}))
    assert [(p["pid"], p["name"]) for p in found["processes"]] == [(sleeper.pid, "sleep")]
    by_memory = data(server.call("processes_list", {"sort": "memory", "limit": 3}))["processes"]
    assert len(by_memory) == 3 and by_memory[0]["memory_bytes"] >= by_memory[-1]["memory_bytes"]


def test_a_throwaway_process_is_signalled(server: ToolServer, sleeper: subprocess.Popen[bytes]) -> None:
    sent = data(server.call("processes_signal", {"pid": sleeper.pid, "signal": "TERM"}))
    assert sent["signal"] == "SIGTERM" and sent["name"] == "sleep"
    assert sleeper.wait(5) == -15


def test_signalling_init_vpsmcp_or_nothing_is_refused(server: ToolServer) -> None:
    assert "refused: pid 1 is init" in error_text(server.call("processes_signal", {"pid": 1}))
    own = server.proc.proc.pid  # type: ignore[union-attr]
    assert "vpsmcp itself" in error_text(server.call("processes_signal", {"pid": own, "signal": "KILL"}))
    assert "no process with pid" in error_text(server.call("processes_signal", {"pid": 4_000_000}))


def test_no_thread_of_vpsmcp_its_ancestors_or_init_can_be_signalled(server: ToolServer) -> None:
    own = server.proc.proc.pid  # type: ignore[union-attr]
    threads = [int(t) for t in os.listdir(f"/proc/{own}/task") if int(t) != own]
    assert threads, "hypercorn and the audit writer run threads"
    for tid in threads:
        refused = error_text(server.call("processes_signal", {"pid": tid, "signal": "TERM"}))
        assert f"a thread of pid {own}" in refused, refused
    # The test process started the server: it is vpsmcp's parent, as systemd or a shell would be.
    assert "an ancestor of vpsmcp" in error_text(server.call("processes_signal", {"pid": os.getpid(), "signal": "TERM"}))
    init_threads = [int(t) for t in os.listdir("/proc/1/task") if int(t) != 1]
    for tid in init_threads[:3]:
        assert "is init" in error_text(server.call("processes_signal", {"pid": tid}))
    assert httpx.get(server.proc.url + "/healthz").status_code == 200


def test_a_child_of_vpsmcp_may_be_signalled_and_vpsmcp_carries_on(tmp_path: Path) -> None:
    # A stdio upstream is vpsmcp's child: signalling it is allowed (a hung one can be stopped);
    # the gateway restarts it as after any crash.
    config = tools_config([tmp_path]) + (f'\n[upstreams.idle]\nargv = ["{sys.executable}", "-c", '
                                         f'"import time; time.sleep(987.321)"]\nstart = "boot"\n')
    for server in serving(tmp_path, config):
        own = server.proc.proc.pid  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while not (children := [p for p in data(server.call("processes_list", {"match": "987.321"}))["processes"]
                                if p["ppid"] == own]):
            assert time.monotonic() < deadline, "the upstream never started"
            time.sleep(0.1)
        sent = data(server.call("processes_signal", {"pid": children[0]["pid"], "signal": "TERM"}))
        assert sent["signal"] == "SIGTERM"
        assert httpx.get(server.proc.url + "/healthz").status_code == 200
        assert data(server.call("status"))["hostname"]


def test_services_need_systemd_and_the_allowlist(server: ToolServer) -> None:
    listed = server.call("services_list")
    if SYSTEMD:
        assert data(listed)["total"] > 0
    else:
        assert "systemd is not running on this machine" in error_text(listed)
    refused = error_text(server.call("services_control", {"unit": "ssh", "action": "restart"}))
    assert refused.startswith("refused: ssh.service is not in [tools] services_allow")
    assert "not a unit name" in error_text(server.call("services_status", {"unit": "--force"}))
    if not SYSTEMD:
        allowed = error_text(server.call("services_control", {"unit": "nginx", "action": "restart"}))
        assert "systemd is not running on this machine" in allowed


def test_the_journal_is_read_or_its_absence_is_named(server: ToolServer) -> None:
    result = server.call("logs_journal", {"lines": 5})
    if journal_present():
        assert data(result)["count"] <= 5
    else:
        assert "there is no systemd journal on this machine" in error_text(result)


def test_a_log_file_under_the_root_is_tailed(server: ToolServer, logs: Path) -> None:
    (logs / "app.log").write_text("".join(f"{n} {'ERROR' if n % 100 == 0 else 'ok'}\n" for n in range(1, 5001)))
    tail = data(server.call("logs_tail", {"path": "app.log", "lines": 3}))
    assert tail["lines"] == ["4998 ok", "4999 ok", "5000 ERROR"] and tail["complete"] is True
    errors = data(server.call("logs_tail", {"path": "app.log", "lines": 2, "match": "ERROR"}))
    assert errors["lines"] == ["4900 ERROR", "5000 ERROR"]
    assert "outside the allowed roots" in error_text(server.call("logs_tail", {"path": "/etc/hostname"}))


def test_containers_are_listed_or_the_missing_engine_is_named(server: ToolServer) -> None:
    result = server.call("containers_list")
    cli = shutil.which("docker") or shutil.which("podman")
    if cli is None:
        assert "no container engine CLI on this machine" in error_text(result)
    elif subprocess.run([cli, "info"], capture_output=True).returncode != 0:
        assert "engine is not running or not reachable" in error_text(result)
    else:
        assert data(result)["total"] >= 0
    assert "not a container name" in error_text(server.call("containers_inspect", {"name": "-rm"}))


def test_interfaces_routes_and_sockets(server: ToolServer) -> None:
    interfaces = {i["name"]: i for i in data(server.call("network_interfaces"))["interfaces"]}
    assert "127.0.0.1" in [a["address"] for a in interfaces["lo"]["addresses"]]
    routes = data(server.call("network_routes"))["routes"]
    assert all(r["family"] in ("ipv4", "ipv6") for r in routes)
    listening = data(server.call("network_sockets"))["sockets"]
    assert any(s["port"] == port_of(server) and s["state"] == "listen" for s in listening)


def test_connectivity_check_resolves_connects_and_reports_failures(server: ToolServer) -> None:
    good = data(server.call("network_check", {"host": "127.0.0.1", "port": port_of(server)}))
    assert good["dns"]["ok"] and good["tcp"][0]["ok"] is True
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    closed = data(server.call("network_check", {"host": "127.0.0.1", "port": closed_port, "timeout": 2}))
    assert closed["tcp"][0]["ok"] is False and "refused" in closed["tcp"][0]["error"].lower()
    unknown = data(server.call("network_check", {"host": "no-such-host.invalid", "timeout": 2}))
    assert unknown["dns"]["ok"] is False and unknown["dns"]["error"]
