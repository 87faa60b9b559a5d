"""``vpsmcp doctor`` against real servers: a healthy vpsmcp, vpsmcp misconfigured, and servers that break.

Every server is real and listens on port 0: ``vpsmcp serve`` processes, and
the small standard-library servers of tests/helpers/doctor_servers.py that each get
one thing wrong. The doctor runs as the command (in this process through
``cli.main``, or as a child process where the test must play the browser).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.doctor_servers import Behaviour, FakeMcpServer
from tests.helpers.oauth_flow import consent_form, set_password
from tests.helpers.support import ROOT, ServerProcess, clean_env, serve_from_checkout
from vpsmcp.cli import main

pytestmark = pytest.mark.slow

PASSWORD = "doctor-test-password"
HEARTBEAT_CONFIG = "[mcp]\nheartbeat = 0.5\n"


def doctor(capsys: pytest.CaptureFixture[str], url: str, *flags: str) -> tuple[int, dict[str, Any]]:
    """Run ``vpsmcp doctor URL --json`` in this process; the exit status and the report."""
    status = main(["doctor", url, "--json", "--local", "--stream-wait", "2", "--timeout", "5", *flags], env={})
    return status, json.loads(capsys.readouterr().out)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


@pytest.fixture
def open_vpsmcp(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(HEARTBEAT_CONFIG)
    with serve_from_checkout(tmp_path, "--no-auth", "--config", str(config)) as proc:
        yield proc


@pytest.fixture
def oauth_vpsmcp(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "vpsmcp.toml"
    config.write_text(HEARTBEAT_CONFIG)
    set_password(tmp_path / "state", PASSWORD)
    with serve_from_checkout(tmp_path, "--config", str(config)) as proc:
        yield proc


def play_browser(authorize_url: str, password: str, decision: str = "allow") -> None:
    """What the person does: open the URL, type the password, allow everything offered (or deny)."""
    with httpx.Client(timeout=10) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200, page.text
        offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
        answer = http.post(authorize_url.split("?")[0],
                           data={**consent_form(page), "password": password, "decision": decision, "scope": offered})
        assert answer.status_code == 302, answer.text
        assert http.get(answer.headers["location"]).status_code == 200  # the doctor's loopback listener


def doctor_with_login(server: ServerProcess, home: Path, decision: str = "allow") -> tuple[int, str, str]:
    """``vpsmcp doctor --login --json`` as a child process, the test playing the browser it asks for."""
    argv = [sys.executable, "-m", "vpsmcp", "doctor", server.url + "/mcp", "--json", "--local", "--login",
            "--no-browser", "--stream-wait", "2", "--login-timeout", "30"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env(home), cwd=ROOT)
    assert child.stderr is not None
    for line in child.stderr:
        if "/authorize?" in line:
            play_browser(line.strip(), PASSWORD, decision)
            break
    out, err = child.communicate(timeout=60)
    return child.returncode, out, err


def test_healthy_vpsmcp_passes_every_step_after_login(oauth_vpsmcp: ServerProcess, tmp_path: Path) -> None:
    status, out, err = doctor_with_login(oauth_vpsmcp, tmp_path)
    report = json.loads(out)
    assert status == 0, out + err
    assert report["verdict"] == "pass"
    # plain http; and the doctor's registration as Claude stays (vpsmcp offers no RFC 7592 deletion), said as such
    assert {name for name, status in statuses(report).items() if status != "pass"} == {"TLS", "clean up"}
    assert statuses(report)["clean up"] == "skip"
    checks = by_name(report)
    assert "vpsmcp" in checks["clock"]["summary"]
    assert checks["tool call"]["summary"].startswith("called ")
    assert checks["log out"]["status"] == "pass"
    assert checks["log out"]["summary"] == ("the doctor's tokens are revoked; the doctor's login registration stays "
                                            "on the server: it offers no way to delete one (RFC 7592)")
    assert "access_token" not in out and "refresh_token" not in out


def test_a_login_the_owner_denies_fails_the_login_step_and_skips_what_needs_it(
    oauth_vpsmcp: ServerProcess, tmp_path: Path
) -> None:
    status, out, err = doctor_with_login(oauth_vpsmcp, tmp_path, decision="deny")
    checks = by_name(json.loads(out))
    assert status == 1, out + err
    assert checks["login"]["status"] == "fail"
    assert checks["login"]["summary"].startswith("authorization refused: access_denied")
    assert checks["tools/list"]["status"] == "skip" and checks["log out"]["status"] == "skip"


def test_vpsmcp_without_auth_is_a_warning_that_claude_connects_without_login(
    open_vpsmcp: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = doctor(capsys, open_vpsmcp.url + "/mcp")
    assert status == 3 and report["verdict"] == "warn", report
    checks = by_name(report)
    assert checks["401 challenge"]["status"] == "warn"
    assert "no authentication" in checks["401 challenge"]["summary"]
    assert "Claude connects without login" in checks["401 challenge"]["cause"]
    assert 'auth.mode = "oauth"' in checks["401 challenge"]["fix"]
    assert checks["resource metadata"]["status"] == "pass"  # every discovery path is 404, as it must be
    for name in ("server/discover", "initialize", "tools/list", "sessions", "tool call", "event stream",
                 "keep-alive", "legacy SSE", "WebSocket"):
        assert checks[name]["status"] == "pass", checks[name]


def test_unauthenticated_oauth_vpsmcp_passes_discovery_and_asks_for_login(
    oauth_vpsmcp: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = doctor(capsys, oauth_vpsmcp.url)
    assert status == 0, report
    checks = by_name(report)
    for name in ("401 challenge", "resource metadata", "server metadata", "issuer", "PKCE and endpoints",
                 "registration", "authorize", "token endpoint", "legacy SSE", "WebSocket"):
        assert checks[name]["status"] == "pass", checks[name]
    assert "--login" in checks["initialize"]["summary"] and checks["initialize"]["status"] == "skip"
    # it never got as far as a session: said so, not "the server issues no session ids"
    assert checks["sessions"]["status"] == "skip" and "--login" in checks["sessions"]["summary"], checks["sessions"]


def test_a_loopback_address_without_local_is_no_dns_record_to_publish(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["doctor", "http://127.0.0.1:9/mcp", "--json", "--timeout", "2"], env={})
    dns = by_name(json.loads(capsys.readouterr().out))["DNS"]
    assert status == 1 and dns["status"] == "fail"
    assert "A record" not in dns["fix"] and "--local" in dns["fix"], dns


def test_wrong_public_url_is_flagged_with_the_setting_to_change(
    oauth_vpsmcp: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    port = oauth_vpsmcp.url.rsplit(":", 1)[1]
    status, report = doctor(capsys, f"http://localhost:{port}/mcp")  # metadata says http://127.0.0.1:PORT
    assert status == 1
    challenge = by_name(report)["401 challenge"]
    assert challenge["status"] == "fail"
    assert f"points at http://127.0.0.1:{port}, not at http://localhost:{port}" in challenge["summary"]
    assert f'server.public_url = "http://localhost:{port}"' in challenge["fix"]


def test_401_without_www_authenticate_is_flagged_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour(challenge=False)) as fake:
        status, report = doctor(capsys, fake.base + "/mcp")
    assert status == 1
    challenge = by_name(report)["401 challenge"]
    assert challenge["status"] == "fail"
    assert challenge["summary"] == "401 without WWW-Authenticate"
    assert f'WWW-Authenticate: Bearer resource_metadata="{fake.base}/.well-known/oauth-protected-resource/mcp"' \
        in challenge["fix"]


def test_issuer_that_differs_by_a_trailing_slash_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour(prm_issuer_suffix="/")) as fake:
        status, report = doctor(capsys, fake.base + "/mcp")
    assert status == 1
    checks = by_name(report)
    assert checks["resource metadata"]["status"] == "pass"
    assert checks["issuer"]["status"] == "fail"
    assert "a trailing slash apart" in checks["issuer"]["summary"]
    assert "byte-identical" in checks["issuer"]["fix"]


def test_server_that_hangs_on_server_discover_is_flagged_not_waited_for(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour(auth=False, hang_discover=True)) as fake:
        start = time.monotonic()
        status, report = doctor(capsys, fake.base + "/mcp", "--timeout", "2")
        took = time.monotonic() - start
    assert took < 15, f"the doctor took {took:.1f} s"
    assert status == 1
    checks = by_name(report)
    assert checks["server/discover"]["status"] == "fail"
    assert checks["server/discover"]["summary"] == "server/discover got no answer within 2 s"
    assert "-32600" in checks["server/discover"]["fix"]
    assert checks["initialize"]["status"] == "pass"  # the handshake still works
    assert checks["sessions"]["status"] == "pass"


def test_a_redirect_on_the_mcp_url_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour(redirect=True)) as fake:
        status, report = doctor(capsys, fake.base + "/mcp")
    challenge = by_name(report)["401 challenge"]
    assert status == 1 and challenge["status"] == "fail"
    assert challenge["summary"] == f"initialize without a token: HTTP 307 redirect to {fake.base}/mcp/"
    assert "do not follow redirects" in challenge["cause"]


def test_unreachable_server_fails_at_the_port_and_tries_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour()) as fake:
        url = fake.base + "/mcp"
    status, report = doctor(capsys, url)  # the port is closed now
    assert status == 1
    result = statuses(report)
    assert result["port"] == "fail"
    assert {s for name, s in result.items() if name not in ("DNS", "port")} == {"skip"}


def test_text_report_shows_a_line_per_step_with_cause_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeMcpServer(Behaviour(challenge=False)) as fake:
        status = main(["doctor", fake.base, "--local", "--timeout", "5"], env={})
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith(f"vpsmcp doctor: {fake.base}/mcp\n")
    assert "\n  ✗ 401 challenge       401 without WWW-Authenticate\n      why: " in out
    assert "\n      fix: answer every request without a token with 401" in out
    assert re.search(r"\n\d+ passed, \d+ warnings?, 1 failed, \d+ skipped: fail\n$", out)


def test_a_url_that_is_not_http_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "ftp://example.com/mcp"], env={}) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["doctor", "https://h/mcp", "--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
        (["doctor", "https://h/mcp?x=1"], "without query"),
    ],
)
def test_doctor_arguments_it_cannot_use_are_refused_by_name(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env={}) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--timeout", "0"], ["--stream-wait", "x"], ["--login-timeout", "-1"]])
def test_doctor_time_limits_must_be_positive_numbers(flag: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["doctor", "https://h/mcp", *flag], env={})
    assert raised.value.code == 2


def test_an_empty_token_on_stdin_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["doctor", "https://h/mcp", "--token-stdin"], env={}) == 2
    assert "--token-stdin: the first line of stdin is empty" in capsys.readouterr().err


def test_without_url_the_configured_public_url_is_checked_or_the_doctor_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text("")
    assert main(["doctor", "--config", str(config)], env={}) == 2
    assert "name the URL to check" in capsys.readouterr().err
    with FakeMcpServer(Behaviour(challenge=False)) as fake:
        config.write_text(f'[server]\npublic_url = "{fake.base}"\n')
        assert main(["doctor", "--config", str(config), "--local", "--json", "--timeout", "5"], env={}) == 1
    assert json.loads(capsys.readouterr().out)["url"] == fake.base + "/mcp"


def test_a_token_the_server_refuses_is_named_as_such_everywhere_not_as_a_proxy(
    oauth_vpsmcp: ServerProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not-a-token-this-server-issued\n"))
    status, report = doctor(capsys, oauth_vpsmcp.url, "--token-stdin")
    checks = by_name(report)
    assert status == 1
    assert checks["WebSocket"]["summary"] == "the upgrade got HTTP 401 with the token", checks["WebSocket"]
    assert "Upgrade" not in checks["WebSocket"]["fix"] and "not accepted" in checks["WebSocket"]["cause"]
    assert checks["server/discover"]["cause"] == "the token is not accepted"
