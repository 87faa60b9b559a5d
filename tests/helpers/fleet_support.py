"""Three vpsmcp servers on this machine: a hub and its nodes, each with its own state and owner password.

Each node is a real ``vpsmcp serve`` with OAuth on, on a port fixed for its life
(so it can be restarted where the hub expects it), its files tools confined to
a directory of its own. ``fleet_add`` runs ``vpsmcp fleet add`` on the hub's
state as a child process while the test plays the node's owner in the browser
the command asks for.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.oauth_flow import consent_form, set_password
from tests.helpers.support import ROOT, ServerProcess, clean_env

PLUGIN = ROOT / "tests" / "plugins" / "scoped_plugin.py"
SDK_PLUGIN = ROOT / "tests" / "plugins" / "sdk_plugin.py"  # progress, logging, elicitation
NODE_PLUGIN = ROOT / "tests" / "plugins" / "node_plugin.py"  # a resource, a template, a prompt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Machine:
    """One vpsmcp: its directory, port, owner password and (while it runs) its process."""

    tmp: Path
    password: str
    port: int = field(default_factory=free_port)
    process: ServerProcess | None = None

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.tmp / "vpsmcp.toml"

    def prepare(self, extra: str = "", plugins: tuple[Path, ...] = (PLUGIN,)) -> Machine:
        files = self.tmp / "files"
        files.mkdir(parents=True, exist_ok=True)
        (files / "motd.txt").write_text(f"hello from {self.tmp.name}\n")
        self.config.write_text(
            f"[server]\npublic_url = {json.dumps(self.url)}\n"
            f"[plugins]\nmodules = {json.dumps([str(p) for p in plugins])}\n"
            f"[tools]\nroots = [{json.dumps(str(files))}]\n"
            "[auth]\ntrusted_proxies = [\"127.0.0.1\"]\nregistrations_per_address = 100000\n"
            f"registrations_overall = 100000\n{extra}"
        )
        set_password(self.state, self.password)
        return self

    def start(self) -> Machine:
        argv = [sys.executable, "-m", "vpsmcp", "serve", "--state-dir", str(self.state),
                "--config", str(self.config), "--port", str(self.port)]
        self.process = ServerProcess(argv, env=clean_env(self.tmp), cwd=self.tmp).start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """A ``vpsmcp`` command on this machine's config and state."""
        return subprocess.run([sys.executable, "-m", "vpsmcp", *args, "--config", str(self.config),
                               "--state-dir", str(self.state)], input=stdin, capture_output=True, text=True,
                              timeout=60, env=clean_env(self.tmp), cwd=ROOT)

    def fleet_file(self) -> dict[str, Any]:
        return dict(json.loads((self.state / "fleet.json").read_text())["nodes"])


def approve(authorize_url: str, password: str, scopes: list[str] | None = None, decision: str = "allow") -> None:
    """The node's owner in the browser: open the URL, type the password, allow (``scopes``, default all)
    or deny."""
    with httpx.Client(timeout=10) as http:
        page = http.get(authorize_url)
        assert page.status_code == 200, page.text
        offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
        answer = http.post(authorize_url.split("?")[0], data={
            **consent_form(page), "password": password, "decision": decision, "scope": scopes or offered})
        assert answer.status_code == 302, answer.text
        assert http.get(answer.headers["location"]).status_code == 200  # the hub's loopback listener


def fleet_login(hub: Machine, node: Machine, *args: str, scopes: list[str] | None = None,
                decision: str = "allow") -> tuple[int, str, str]:
    """``vpsmcp fleet add|login …`` on the hub, the test approving as ``node``'s owner."""
    argv = [sys.executable, "-m", "vpsmcp", "fleet", *args, "--no-browser", "--login-timeout", "30",
            "--config", str(hub.config), "--state-dir", str(hub.state)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             text=True, env=clean_env(hub.tmp), cwd=ROOT)
    assert child.stderr is not None
    seen = []
    for line in child.stderr:
        seen.append(line)
        if "/authorize?" in line:
            approve(line.strip(), node.password, scopes, decision)
            break
    out, err = child.communicate(timeout=60)
    return child.returncode, out, "".join(seen) + err
