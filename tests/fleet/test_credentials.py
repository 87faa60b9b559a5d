"""The hub's credential for a node: renewed once however many ask at once, kept when fresh, and a
node that says no leaves the hub logged out with the command that fixes it."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers.fleet_support import Machine, fleet_login
from tests.helpers.oauth_flow import consent_form
from vpsmcp.errors import UpstreamError
from vpsmcp.fleet.credentials import fresh
from vpsmcp.fleet.login import log_in
from vpsmcp.fleet.nodes import Fleet, Node, expiring


def test_a_fresh_token_is_kept_and_a_refused_one_renewed_once_however_many_renew_at_once(
        hub: Machine, node: Machine) -> None:
    assert fleet_login(hub, node, "add", "web1", node.url + "/mcp")[0] == 0
    fleet = Fleet(hub.state)
    first = fleet.read()["web1"]
    assert fresh(fleet, "web1") == first  # fresh enough: no request to the node
    with ThreadPoolExecutor(8) as pool:  # eight callers whose token was just refused, at once
        renewed = list(pool.map(lambda _: fresh(fleet, "web1", refused=first.access_token), range(8)))
    assert len({n.access_token for n in renewed}) == 1 and renewed[0].access_token != first.access_token
    assert fleet.read()["web1"].refresh_token != first.refresh_token  # rotated once: the node kept the grant
    assert fresh(fleet, "web1", refused=renewed[0].access_token).access_token not in (first.access_token,
                                                                                     renewed[0].access_token)


def test_a_revoked_grant_logs_the_hub_out_for_every_caller_naming_the_command(hub: Machine, node: Machine) -> None:
    assert fleet_login(hub, node, "add", "web1", node.url + "/mcp")[0] == 0
    fleet = Fleet(hub.state)
    client = fleet.read()["web1"].client_id
    assert node.cli("tokens", "revoke", "--client", client).returncode == 0
    with pytest.raises(UpstreamError) as caught:
        fresh(fleet, "web1", refused=fleet.read()["web1"].access_token)
    assert str(caught.value) == "upstream 'web1' revoked the hub's grant: run `vpsmcp fleet login web1` on the hub"
    assert fleet.read()["web1"].logged_out == "revoked the hub's grant"
    with pytest.raises(UpstreamError, match="fleet login web1"):
        fresh(fleet, "web1")  # without asking the node again
    assert "LOGGED OUT" in hub.cli("fleet", "list").stdout


def test_an_unreachable_node_is_not_a_logout(hub: Machine, node: Machine) -> None:
    assert fleet_login(hub, node, "add", "web1", node.url + "/mcp")[0] == 0
    fleet = Fleet(hub.state)
    with fleet.changing() as nodes:
        nodes["web1"] = dataclasses.replace(nodes["web1"], token_endpoint="http://127.0.0.1:9/token")
    with pytest.raises(UpstreamError, match="cannot renew the hub's token: cannot reach"):
        fresh(fleet, "web1", refused=fleet.read()["web1"].access_token)
    assert fleet.read()["web1"].logged_out == ""


def test_a_token_is_renewed_in_the_last_quarter_of_its_life() -> None:
    made = Node("a", "https://a/mcp", "oauth", "x", lifetime=400.0, expires_at=1000.0)
    assert not expiring(made, now=600.0) and not expiring(made, now=899.0) and expiring(made, now=901.0)
    assert not expiring(dataclasses.replace(made, expires_at=0.0), now=10**10)  # a token without an end


def test_a_login_finished_by_pasting_the_address_the_browser_ended_on(node: Machine) -> None:
    """The browser is on another machine: its redirect to the hub's 127.0.0.1 never loads, so the
    owner pastes the address into the terminal instead (the listener is never reached)."""
    read_end, write_end = os.pipe()
    pasted, typing = os.fdopen(read_end, "r"), os.fdopen(write_end, "w")
    printed: list[str] = []

    class Terminal(io.StringIO):
        def write(self, text: str) -> int:
            printed.append(text)
            return len(text)

    with ThreadPoolExecutor(1) as pool:
        login = pool.submit(log_in, "web1", node.url + "/mcp", Terminal(), False, 30, pasted)
        address = until_printed(printed, "/authorize?")
        with httpx.Client(timeout=10) as http:
            page = http.get(address)
            offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
            answer = http.post(address.split("?")[0], data={**consent_form(page), "password": node.password,
                                                             "decision": "allow", "scope": offered})
        assert answer.status_code == 302
        typing.write("  " + answer.headers["location"] + "\n")  # as pasted, with the terminal's stray spaces
        typing.flush()
        got = login.result(timeout=30)
    typing.close()
    pasted.close()
    assert got.kind == "oauth" and got.access_token and got.refresh_token and "vps:read" in got.scope.split()


def until_printed(printed: list[str], needle: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in "".join(printed).splitlines():
            if needle in line:
                return line.strip()
        time.sleep(0.05)
    raise AssertionError(f"never printed {needle!r}: {printed}")
