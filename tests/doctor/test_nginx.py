"""``vpsmcp doctor`` through a real nginx with TLS: the shipped site passes, a buffering one is caught.

vpsmcp and nginx come from tests/helpers/nginx_support.py (the site ``vpsmcp install``
writes, a test CA, the test hostname resolved to loopback in this process),
so the doctor runs in this process. It gets its token on stdin, obtained
through nginx by the test playing client and owner.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.nginx_support import Nginx, buffering, proxied
from tests.helpers.oauth_flow import consent_form, grant, set_password
from vpsmcp.cli import main

pytestmark = pytest.mark.slow

PASSWORD = "doctor-nginx-password"


@contextlib.contextmanager
def behind_nginx(tmp: Path, edit: Callable[[str], str] | None = None, heartbeat: float = 0.5,
                 read_timeout: str = "3600s") -> Iterator[tuple[Nginx, str]]:
    """vpsmcp (heartbeat 0.5 s) behind nginx, and an access token obtained through it."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "vpsmcp.toml"
    config.write_text(f"[mcp]\nheartbeat = {heartbeat}\n")
    set_password(tmp / "state", PASSWORD)
    with proxied(tmp, "--config", str(config), edit=edit, read_timeout=read_timeout) as (_, nginx), \
            nginx.client(timeout=10) as http:
        yield nginx, str(grant(http, nginx.base_url, PASSWORD)[1]["access_token"])


def doctor(nginx: Nginx, token: str, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """The doctor against nginx's https URL (test CA trusted; --local: a loopback address, port not 443)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    status = main(["doctor", nginx.base_url + "/mcp", "--json", "--local", "--ca-file", str(nginx.ca_path),
                   "--token-stdin", "--stream-wait", "3", "--timeout", "5"], env={})
    report = json.loads(capsys.readouterr().out)
    checks = {check["name"]: check for check in report["checks"]}
    checks["clients"] = {c["client"].split(" (")[0]: c for c in report["clients"]}
    return status, checks


def test_doctor_passes_vpsmcp_behind_the_shipped_nginx_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with behind_nginx(tmp_path) as (nginx, token):
        status, checks = doctor(nginx, token, monkeypatch, capsys)
        untrusted = main(["doctor", nginx.base_url, "--json", "--local", "--timeout", "5"], env={})
        untrusted_checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    # vpsmcp offers no RFC 7592 deletion, and the doctor says its registration stays
    clients = checks.pop("clients")
    assert {name: c["status"] for name, c in checks.items() if c["status"] != "pass"} == {"clean up": "skip"}
    # Claude's own request is served; only the test's port (not 443) keeps its hosted connector out
    assert checks["Claude's request"]["status"] == "pass"
    assert "port 443 only" in clients["Claude"]["words"]
    assert {name: c["verdict"] for name, c in clients.items() if name != "Claude"} == {
        "Claude Code": "connects", "ChatGPT": "unknown", "Codex": "connects", "mcp-remote": "connects",
        "official SDK clients": "connects"}
    assert "--local" in clients["ChatGPT"]["words"]  # whether the name is public was not checked
    assert checks["ChatGPT, Codex"]["summary"] == "ChatGPT and Codex register with their callbacks"
    assert "stays on the server" in checks["clean up"]["summary"]
    assert status == 0
    assert checks["TLS"]["summary"].startswith("TLSv1.") and "trusted certificate for mcp.vpsmcp.test" in \
        checks["TLS"]["summary"]
    assert "none held back" in checks["event stream"]["summary"]

    # Without the test CA, the same server's certificate is one no client trusts; the doctor says so and goes on.
    assert untrusted == 1
    assert untrusted_checks["TLS"]["status"] == "fail"
    assert untrusted_checks["TLS"]["summary"].startswith("certificate not trusted: ")
    assert "CA clients trust" in untrusted_checks["TLS"]["cause"] and "fullchain.pem" in untrusted_checks["TLS"]["fix"]
    assert untrusted_checks["401 challenge"]["status"] == "pass"


def test_doctor_flags_a_buffering_proxy_with_the_nginx_directive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with behind_nginx(tmp_path, edit=buffering) as (nginx, token):
        status, checks = doctor(nginx, token, monkeypatch, capsys)
    assert status == 1
    stream = checks["event stream"]
    assert stream["status"] == "fail", stream
    assert "buffers the stream" in stream["cause"]
    assert '"proxy_buffering off;"' in stream["fix"] and "proxy_ignore_headers X-Accel-Buffering" in stream["fix"]
    assert checks["keep-alive"]["status"] == "skip"  # nothing came through to time
    assert checks["legacy SSE"]["status"] == "fail" and "buffers" in checks["legacy SSE"]["cause"]
    for name in ("401 challenge", "resource metadata", "issuer", "initialize", "tools/list", "tool call"):
        assert checks[name]["status"] == "pass", checks[name]  # quick JSON answers pass a buffering proxy

def compressing(site: str) -> str:
    """nginx compressing event streams (gzip on for text/event-stream), as a default config may."""
    assert site.count("gzip off;") == 1
    return site.replace("gzip off;", "gzip on;\n        gzip_types text/event-stream application/json;\n"
                                     "        gzip_min_length 1;")


def without_upgrade(site: str) -> str:
    """nginx not passing the WebSocket upgrade (no Upgrade header, Connection cleared)."""
    return site.replace("proxy_set_header Upgrade $http_upgrade;", "").replace(
        "proxy_set_header Connection $vpsmcp_connection;", 'proxy_set_header Connection "";')


def test_doctor_names_each_nginx_fault_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with behind_nginx(tmp_path / "gzip", edit=compressing) as (nginx, token):
        _, gzip = doctor(nginx, token, monkeypatch, capsys)
    assert failing(gzip) == {"event stream", "legacy SSE"}, gzip
    assert gzip["event stream"]["summary"] == "the event stream is compressed (gzip)"
    assert '"gzip off;"' in gzip["event stream"]["fix"]

    with behind_nginx(tmp_path / "upgrade", edit=without_upgrade) as (nginx, token):
        _, upgrade = doctor(nginx, token, monkeypatch, capsys)
    assert failing(upgrade) == {"WebSocket"}, upgrade
    assert "Upgrade $http_upgrade" in upgrade["WebSocket"]["fix"]

    with behind_nginx(tmp_path / "timeout", heartbeat=15, read_timeout="10s") as (nginx, token):
        monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
        main(["doctor", nginx.base_url + "/mcp", "--json", "--local", "--ca-file", str(nginx.ca_path),
              "--token-stdin", "--stream-wait", "20", "--timeout", "5"], env={})
        cut = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert failing(cut) == {"event stream"}, cut
    assert cut["event stream"]["summary"].startswith("/mcp: the stream was cut after 10.")
    assert "proxy_read_timeout" in cut["event stream"]["fix"]


def failing(checks: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, check in checks.items() if check.get("status") == "fail"}


def test_doctor_logs_in_to_vpsmcp_behind_the_shipped_nginx_site_and_passes_every_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--login`` through nginx with TLS: the browser the doctor opens is the test at the consent page."""
    with behind_nginx(tmp_path) as (nginx, _):
        played: list[threading.Thread] = []

        def browser(url: str) -> bool:
            def owner() -> None:
                with nginx.client(timeout=10) as http:
                    page = http.get(url)
                    offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
                    answer = http.post(url.split("?")[0], data={**consent_form(page), "password": PASSWORD,
                                                               "decision": "allow", "scope": offered})
                    assert answer.status_code == 302, answer.text
                with httpx.Client(timeout=10) as loopback:  # the doctor's own listener, plain http
                    loopback.get(answer.headers["location"])
            played.append(threading.Thread(target=owner))
            played[-1].start()
            return True

        monkeypatch.setattr("vpsmcp.doctor.login.webbrowser.open", browser)
        status = main(["doctor", nginx.base_url + "/mcp", "--json", "--local", "--ca-file", str(nginx.ca_path),
                       "--login", "--login-timeout", "30", "--stream-wait", "3", "--timeout", "5"], env={})
        report = json.loads(capsys.readouterr().out)
    checks = {check["name"]: check for check in report["checks"]}
    assert len(played) == 1
    assert {name: c["status"] for name, c in checks.items() if c["status"] != "pass"} == {"clean up": "skip"}, checks
    assert checks["login"]["summary"].startswith("logged in: a Bearer token") and status == 0
    assert checks["log out"]["summary"].startswith("the doctor's tokens are revoked")
