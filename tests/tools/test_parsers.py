"""Reading what systemctl, journalctl and the container CLIs print, from recorded output.

systemd as PID 1 and a running container engine cannot run in this sandbox
(the tools' real error paths are tested in test_tools_system.py), so their
success output is parsed here from samples recorded on machines that have them.
"""

from __future__ import annotations

import pytest

from vpsmcp.errors import ToolError
from vpsmcp.tools import containers, logs, systemd

LIST_UNITS_JSON = """[{"unit":"cron.service","load":"loaded","active":"active","sub":"running","description":"Regular background program processing daemon"},{"unit":"nginx.service","load":"loaded","active":"failed","sub":"failed","description":"A high performance web server and a reverse proxy server"}]"""
LIST_UNITS_PLAIN = """cron.service                 loaded active   running Regular background program processing daemon
● nginx.service              loaded failed   failed  A high performance web server and a reverse proxy server
ssh.service                  loaded inactive dead    OpenBSD Secure Shell server
"""
SHOW = """Id=nginx.service
Description=A high performance web server and a reverse proxy server
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=812
ActiveEnterTimestamp=Tue 2024-05-14 09:12:01 UTC
ExecMainStartTimestamp=Tue 2024-05-14 09:12:01 UTC
NRestarts=0
Result=success
MemoryCurrent=18446744073709551615
TasksCurrent=3
FragmentPath=/lib/systemd/system/nginx.service
"""
JOURNAL = "\n".join([
    '{"__REALTIME_TIMESTAMP":"1715677921123456","_SYSTEMD_UNIT":"nginx.service","SYSLOG_IDENTIFIER":"nginx",'
    '"PRIORITY":"3","_PID":"812","MESSAGE":"bind() to 0.0.0.0:80 failed (98: Address already in use)"}',
    '{"__REALTIME_TIMESTAMP":"1715677922000000","SYSLOG_IDENTIFIER":"kernel","PRIORITY":"6",'
    '"MESSAGE":[104,105,255]}',
    "not json",
])
DOCKER_PS = "\n".join([
    '{"Command":"\\"/docker-entrypoint.…\\"","CreatedAt":"2024-05-14 09:12:01 +0000 UTC","ID":"3f2a9c1e7b4d",'
    '"Image":"nginx:1.25","Names":"web","Ports":"0.0.0.0:8080->80/tcp","State":"running","Status":"Up 2 hours"}',
    '{"CreatedAt":"2024-05-13 08:00:00 +0000 UTC","ID":"9b8c7d6e5f4a","Image":"postgres:16","Names":"db",'
    '"Ports":"","State":"exited","Status":"Exited (0) 3 hours ago"}',
])
PODMAN_PS = """[{"Id":"aa11bb22","Image":"docker.io/library/redis:7","Names":["cache"],"State":"running",
"Status":"Up 5 minutes","Ports":[{"host_ip":"","container_port":6379,"host_port":6379,"range":1,"protocol":"tcp"}],
"CreatedAt":"5 minutes ago"}]"""
INSPECT = """[{"Id":"3f2a9c1e7b4d","Name":"/web","Image":"sha256:abc",
"State":{"Status":"running","Running":true,"StartedAt":"2024-05-14T09:12:01Z","ExitCode":0,"Health":{"Status":"healthy"}},
"Config":{"Image":"nginx:1.25","Env":["PATH=/usr/bin","DB_PASSWORD=hunter2"],"Cmd":["nginx","-g","daemon off;"],
"Entrypoint":["/docker-entrypoint.sh"],"Labels":{"app":"web"}},
"HostConfig":{"RestartPolicy":{"Name":"unless-stopped"}},
"Mounts":[{"Source":"/srv/web","Destination":"/usr/share/nginx/html"}],
"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]},"Networks":{"bridge":{}}}}]"""


@pytest.mark.parametrize("output", [LIST_UNITS_JSON, LIST_UNITS_PLAIN])
def test_systemctl_unit_lists_are_read_in_json_and_plain_form(output: str) -> None:
    units = systemd.parse_units(output)
    assert units[0] == {"unit": "cron.service", "load": "loaded", "active": "active", "sub": "running",
                        "description": "Regular background program processing daemon"}
    assert units[1]["unit"] == "nginx.service" and units[1]["active"] == "failed"


def test_systemctl_show_becomes_a_typed_status() -> None:
    status = systemd.status_of(systemd.parse_show(SHOW))
    assert status["unit"] == "nginx.service" and status["active"] == "active" and status["enabled"] == "enabled"
    assert status["main_pid"] == 812 and status["restarts"] == 0 and status["tasks"] == 3
    assert status["memory_bytes"] is None  # systemd's "[not set]" (2^64 - 1)


@pytest.mark.parametrize(("name", "unit"), [("nginx", "nginx.service"), ("app@1.service", "app@1.service"),
                                            ("sys-devices.mount", "sys-devices.mount")])
def test_unit_names_get_their_type(name: str, unit: str) -> None:
    assert systemd.unit_name(name) == unit


@pytest.mark.parametrize("name", ["-H", "--force", "a b", "x;y", ""])
def test_option_like_or_odd_unit_names_are_refused(name: str) -> None:
    with pytest.raises(ToolError, match="not a unit name"):
        systemd.unit_name(name)


def test_a_polkit_refusal_reads_as_permission_denied() -> None:
    text = systemd.failure_text("systemctl restart -- nginx.service",
                                "Failed to restart nginx.service: Interactive authentication required.", 1)
    assert text.startswith("permission denied: systemctl restart -- nginx.service: Failed to restart")
    assert "services_allow" in text
    assert systemd.failure_text("systemctl start -- x.service", "Unit x.service not found.", 5) == (
        "systemctl start -- x.service failed (exit status 5): Unit x.service not found.")


def test_journal_json_lines_become_entries() -> None:
    first, second = logs.parse_journal(JOURNAL)
    assert first == {"time": "2024-05-14T09:12:01.123+00:00", "unit": "nginx.service", "identifier": "nginx",
                     "priority": "err", "pid": 812,
                     "message": "bind() to 0.0.0.0:80 failed (98: Address already in use)"}
    assert second["message"] == "hi\ufffd" and second["priority"] == "info" and second["pid"] is None


def test_docker_and_podman_ps_are_read_alike() -> None:
    web, db = containers.parse_ps(DOCKER_PS)
    assert (web["id"], web["name"], web["state"], web["ports"]) == ("3f2a9c1e7b4d", "web", "running",
                                                                   "0.0.0.0:8080->80/tcp")
    assert db["state"] == "exited"
    [cache] = containers.parse_ps(PODMAN_PS)
    assert (cache["name"], cache["ports"], cache["state"]) == ("cache", "6379->6379/tcp", "running")


def test_inspect_shows_environment_names_but_never_their_values() -> None:
    details = containers.parse_inspect(INSPECT)
    assert details["name"] == "web" and details["health"] == "healthy" and details["running"] is True
    assert details["env_names"] == ["PATH", "DB_PASSWORD"] and "hunter2" not in str(details)
    assert details["ports"] == [{"container": "80/tcp", "host": "0.0.0.0:8080"}]
    assert details["command"] == ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]


@pytest.mark.parametrize(("stderr", "expected"), [
    ("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
     "permission denied: docker cannot reach its engine"),
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
     "the docker engine is not running or not reachable"),
    ("Error response from daemon: No such container: ghost", "no container named 'ghost'"),
])
def test_container_cli_failures_are_named(stderr: str, expected: str) -> None:
    assert containers.failure_text("docker", ("start", "--", "ghost"), stderr, 1).startswith(expected)
