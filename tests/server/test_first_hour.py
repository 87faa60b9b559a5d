"""What a new owner sees in the first hour (issue 15): every message true, each saying the next step.

Run as a new user would: ``python -m vpsmcp`` from the checkout, a fresh HOME and
state directory, the words read off stderr and stdout.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.support import ROOT, ServerProcess, clean_env, serve_from_checkout


def vpsmcp(tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vpsmcp", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp, env=clean_env(tmp))


def test_the_first_start_ends_with_the_url_to_give_a_client_and_every_start_says_it_in_one_line(
        tmp_path: Path) -> None:
    with serve_from_checkout(tmp_path) as first:
        port = first.url.rsplit(":", 1)[1]
    lines = first.lines
    shown = next(i for i, line in enumerate(lines) if "shown only this once" in line)
    next_step = lines[shown + 2]
    assert next_step.startswith("vpsmcp: next: MCP endpoint http://127.0.0.1:") and next_step.count("/mcp") == 2
    assert f"claude mcp add --transport http vpsmcp http://127.0.0.1:{port}/mcp" in next_step
    assert "https" in next_step  # claude.ai needs https: said on loopback
    with serve_from_checkout(tmp_path, "--public-url", "https://mcp.example.com") as again:
        pass
    said = [line for line in again.lines if "MCP endpoint" in line]
    assert len(said) == 1 and said[0].endswith(
        "MCP endpoint https://mcp.example.com/mcp — in Claude: Settings → Connectors → Add custom connector → "
        "https://mcp.example.com/mcp"), said
    assert "shown only this once" not in again.output()


def test_a_start_that_fails_on_a_missing_plugin_shows_no_password(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[plugins]\nmodules = ["no_such_module_here"]\n')
    done = vpsmcp(tmp_path, "serve", "--port", "0", "--state-dir", str(tmp_path / "state"), "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "no_such_module_here" in done.stderr and "shown only this once" not in done.stderr
    assert "Traceback" not in done.stderr


def check_config(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    config = tmp / "vpsmcp.toml"
    config.write_text(text)
    return vpsmcp(tmp, "check-config", "--config", str(config))


def test_check_config_refuses_what_serve_refuses_and_names_every_problem_at_once(tmp_path: Path) -> None:
    checked = check_config(tmp_path, '[server]\nlisten = "0.0.0.0"\npublic_url = "https://mcp.example.com"\n'
                                     '[auth]\nmode = "none"\n[plugins]\nmodules = ["no_such_a", "no_such_b"]\n')
    assert checked.returncode == 2, checked
    lines = checked.stderr.strip().splitlines()
    assert [line.split(": ")[3] for line in lines] == ["auth.mode", "plugins.modules[0]", "plugins.modules[1]"], lines
    assert all(line.startswith(f"vpsmcp: error: {tmp_path / 'vpsmcp.toml'}: ") for line in lines)
    # serve refuses the same config, for the same reasons
    served = vpsmcp(tmp_path, "serve", "--config", str(tmp_path / "vpsmcp.toml"), "--port", "0",
                    "--state-dir", str(tmp_path / "state"))
    assert served.returncode == 2 and "no_such_a" in served.stderr and "shown only this once" not in served.stderr


def test_check_config_reports_every_wrong_value_and_says_list_of_strings(tmp_path: Path) -> None:
    checked = check_config(tmp_path, 'junk = 1\n[server]\nport = "x"\n[tools]\nroots = [1]\n')
    assert checked.returncode == 2
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 3 and "junk: unknown key" in lines[0] and "server.port: expected an integer" in lines[1]
    assert lines[2].endswith("tools.roots: expected a list of strings, got [1]"), lines


def test_check_config_warns_with_status_3_about_what_works_but_is_risky(tmp_path: Path) -> None:
    checked = check_config(tmp_path, '[server]\nlisten = "0.0.0.0"\n[tools]\nexec_enabled = true\n')
    assert checked.returncode == 3, checked
    assert "server.public_url: empty while server.listen is 0.0.0.0" in checked.stderr
    assert "tools.exec_allow: empty while tools.exec_enabled is true" in checked.stderr
    assert checked.stdout.strip().endswith("ok, with 2 warnings (above)")
    plain = check_config(tmp_path, '[server]\npublic_url = "http://mcp.example.com"\n')
    assert plain.returncode == 3 and "plain http off this machine" in plain.stderr
    assert check_config(tmp_path, '[server]\npublic_url = "https://mcp.example.com"\n').returncode == 0


def test_serve_says_the_same_risks_in_its_log(tmp_path: Path) -> None:
    config = tmp_path / "vpsmcp.toml"
    config.write_text('[server]\npublic_url = "http://mcp.example.com"\n')
    with serve_from_checkout(tmp_path, "--config", str(config)) as server:
        pass
    assert "WARNING" in server.output() and "plain http off this machine" in server.output()


def test_the_small_ones_version_an_empty_audit_the_readme_paths_and_the_units_documentation(tmp_path: Path) -> None:
    version = vpsmcp(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("vpsmcp "), version
    audit = vpsmcp(tmp_path, "audit", "--state-dir", str(tmp_path / "state"))
    assert audit.returncode == 0 and "no audit records yet" in audit.stderr, audit
    readme = (ROOT / "README.md").read_text()
    assert "python3 vpsmcp.pyz" not in readme and "python3 dist/vpsmcp.pyz serve" in readme
    unit = (ROOT / "systemd" / "vpsmcp.service").read_text()
    assert "Documentation=https://github.com/vpsmcp/vpsmcp" not in unit  # a repository that does not exist


def test_under_systemd_serve_says_ready_once_it_answers_and_stopping_on_sigterm(tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    argv = [sys.executable, "-m", "vpsmcp", "serve", "--port", "0", "--state-dir", str(tmp_path / "state")]
    server = ServerProcess(argv, env={**clean_env(tmp_path), "NOTIFY_SOCKET": str(tmp_path / "notify")}, cwd=tmp_path)
    try:
        server.start()
        ready = notify.recv(4096).decode()
        assert ready.splitlines()[0] == "READY=1" and f"STATUS=serving on {server.url}" in ready
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    finally:
        server.stop()
    assert notify.recv(4096) == b"STOPPING=1"
    notify.close()
    unit = (ROOT / "systemd" / "vpsmcp.service").read_text()
    assert "\nType=notify\n" in unit and "\nBefore=nginx.service\n" in unit  # nginx starts once vpsmcp answers


def test_check_config_names_a_state_directory_serve_could_not_use(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    checked = check_config(tmp_path, f'[server]\nstate_dir = "{a_file}"\n')
    assert checked.returncode == 2 and "server.state_dir" in checked.stderr and "not a directory" in checked.stderr
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    subprocess.run(["mount", "--bind", str(read_only), str(read_only)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(read_only)], check=True)
        checked = check_config(tmp_path, f'[server]\nstate_dir = "{read_only}"\n')
        assert checked.returncode == 2 and "cannot be written" in checked.stderr, checked.stderr
        assert "Read-only file system" in checked.stderr
    finally:
        subprocess.run(["umount", str(read_only)], check=True)
