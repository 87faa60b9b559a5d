"""``vpsmcp fleet`` as its user meets it: what it refuses (and leaves untouched), personal access tokens,
removing a node, and a fleet file that cannot be read. Real nodes: ``vpsmcp serve`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.doctor_servers import Behaviour, FakeMcpServer
from tests.helpers.fleet_support import Machine, fleet_login, free_port
from tests.helpers.oauth_flow import grant
from tests.helpers.oauth_server import call_tool
from tests.helpers.support import ROOT, ServerProcess, clean_env


def refused(hub: Machine, *args: str, stdin: str = "") -> str:
    """A ``fleet`` command that must fail with one line and leave the fleet file as it was (or absent)."""
    path = hub.state / "fleet.json"
    before = path.read_bytes() if path.exists() else None
    done = hub.cli("fleet", *args, stdin=stdin)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("vpsmcp: error: ")
    assert (path.read_bytes() if path.exists() else None) == before
    return done.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["add", "1web", "https://node.example/mcp"], "is no node name"),
    (["add", "web_1", "https://node.example/mcp"], "is no node name"),
    (["add", "web1", "http://node.example/mcp"], "in the clear"),
    (["add", "web1", "ftp://node.example/mcp"], "is not an http(s) URL"),
    (["login", "nobody"], "no fleet node 'nobody'"),
    (["remove", "nobody"], "no fleet node 'nobody'"),
])
def test_what_fleet_refuses_before_asking_any_node(hub: Machine, args: list[str], words: str) -> None:
    assert words in refused(hub, *args)
    assert not (hub.state / "fleet.json").exists()


def test_a_node_that_cannot_be_reached_or_has_no_oauth_is_named(hub: Machine, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/mcp"
    assert "cannot reach" in refused(hub, "add", "gone", closed, "--no-browser")
    open_node = ServerProcess([sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--no-auth",
                               "--state-dir", str(tmp_path / "open")], env=clean_env(tmp_path), cwd=tmp_path).start()
    try:
        said = refused(hub, "add", "open", open_node.url + "/mcp", "--no-browser")
    finally:
        open_node.stop()
    assert "not 401 with resource_metadata" in said and "OAuth" in said
    assert not (hub.state / "fleet.json").exists()


def test_a_login_the_nodes_owner_denies_or_never_finishes_adds_nothing(hub: Machine, node: Machine) -> None:
    status, out, err = fleet_login(hub, node, "add", "web1", node.url + "/mcp", decision="deny")
    assert status == 1 and "refused the login: access_denied" in err, out + err
    slow = hub.cli("fleet", "add", "web1", node.url + "/mcp", "--no-browser", "--login-timeout", "1")
    assert slow.returncode == 1 and "no login to web1 within 1 s: run `vpsmcp fleet login web1`" in slow.stderr
    assert not (hub.state / "fleet.json").exists()


def test_a_name_in_the_fleet_is_not_added_twice(hub: Machine, node: Machine) -> None:
    assert fleet_login(hub, node, "add", "web1", node.url + "/mcp")[0] == 0
    before = (hub.state / "fleet.json").read_bytes()
    assert "is in the fleet already" in refused(hub, "add", "web1", node.url + "/mcp", "--no-browser")
    assert (hub.state / "fleet.json").read_bytes() == before
    assert oct((hub.state / "fleet.json").stat().st_mode & 0o777) == "0o600"


def test_a_personal_access_token_made_on_the_node_works_until_the_node_revokes_it(hub: Machine, node: Machine) -> None:
    assert "refused that token (HTTP 401)" in refused(hub, "add", "web3", node.url + "/mcp", "--token-stdin",
                                                      stdin="vpsmcp_pat_not-a-real-one\n")
    assert "first line of stdin is empty" in refused(hub, "add", "web3", node.url + "/mcp", "--token-stdin", stdin="\n")
    made = node.cli("tokens", "create", "--name", "hub", "--scope", "vps:read")
    token = next(line for line in made.stdout.splitlines() if line.startswith("token")).rsplit(" ", 1)[1]
    added = hub.cli("fleet", "add", "web3", node.url + "/mcp", "--token-stdin", stdin=token + "\n")
    assert added.returncode == 0, added.stderr
    listed = hub.cli("fleet", "list")
    assert "web3" in listed.stdout and "personal access token" in listed.stdout and token not in listed.stdout
    hub.start()
    try:
        with httpx.Client(timeout=10) as http:
            _, tokens = grant(http, hub.url, hub.password)
        assert "uptime" in call_tool(hub.url, tokens["access_token"], "web3_status", {}).text.lower()
        assert node.cli("tokens", "revoke", "--name", "hub").returncode == 0
        failed = call_tool(hub.url, tokens["access_token"], "web3_status", {}).json()["result"]
        assert failed["isError"] and "fleet login web3 --token-stdin" in failed["content"][0]["text"]
    finally:
        hub.stop()


def test_removing_a_node_revokes_the_hubs_grant_there(hub: Machine, node: Machine) -> None:
    assert fleet_login(hub, node, "add", "web1", node.url + "/mcp")[0] == 0
    record = hub.fleet_file()["web1"]
    removed = hub.cli("fleet", "remove", "web1")
    assert removed.returncode == 0 and "the node revoked the hub's grant" in removed.stdout, removed.stderr
    assert hub.fleet_file() == {}
    again = httpx.post(node.url + "/token", data={"grant_type": "refresh_token", "client_id": record["client_id"],
                                                  "refresh_token": record["refresh_token"]}, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert httpx.post(node.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10, headers={
        "authorization": f"Bearer {record['access_token']}", "accept": "application/json"}).status_code == 401


def test_a_fleet_file_that_cannot_be_read_is_named_with_what_to_do(hub: Machine) -> None:
    hub.state.mkdir(parents=True, exist_ok=True)
    (hub.state / "fleet.json").write_text('{"nodes": {"web1": {"name": "web1"}}}')
    said = hub.cli("fleet", "list")
    assert said.returncode == 1 and str(hub.state / "fleet.json") in said.stderr and "fleet add" in said.stderr
    served = subprocess.run([sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--config", str(hub.config),
                             "--state-dir", str(hub.state)], capture_output=True, text=True, timeout=30,
                            env=clean_env(hub.tmp), cwd=ROOT)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert str(hub.state / "fleet.json") in served.stderr


def test_root_adding_a_node_to_an_installed_hub_leaves_the_file_to_the_services_user(hub: Machine, node: Machine) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test runs vpsmcp fleet as root on a state directory of another user (tests/run.sh: root)")
    service = (65534, 65534)  # nobody: the state directory belongs to the service's user, as install makes it
    os.chown(hub.state, *service)
    made = node.cli("tokens", "create", "--name", "hub-of-nobody", "--scope", "vps:read")
    token = next(line for line in made.stdout.splitlines() if line.startswith("token")).rsplit(" ", 1)[1]
    assert hub.cli("fleet", "add", "web4", node.url + "/mcp", "--token-stdin", stdin=token + "\n").returncode == 0
    for name in ("fleet.json", "fleet.lock"):
        info = (hub.state / name).stat()
        assert (info.st_uid, info.st_gid) == service and info.st_mode & 0o777 == 0o600, name


def test_a_node_whose_metadata_names_another_resource_is_refused(hub: Machine) -> None:
    with FakeMcpServer(Behaviour(prm_resource="https://elsewhere.example/mcp")) as fake:
        said = refused(hub, "add", "moved", fake.base + "/mcp", "--no-browser")
    assert "describes the resource 'https://elsewhere.example/mcp', not one at" in said
