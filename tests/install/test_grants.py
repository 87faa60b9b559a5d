"""Grants follow the enabled tools; the polkit rule allows exactly the named services, run in Node.js."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.clients.test_conformance import node_bin
from vpsmcp.config.sections import Config, ToolsConfig, UpstreamConfig
from vpsmcp.install.grants import Grants, grants_for

GROUPS = frozenset({"systemd-journal", "adm"})
EVERY_TOOL_GROUP = ("status", "processes", "services", "logs", "files", "exec", "containers", "network")


def grants(groups: frozenset[str] = GROUPS, has_polkit: bool = True, **settings: Any) -> Grants:
    upstreams = settings.pop("upstreams", {})
    return grants_for(Config(tools=ToolsConfig(**settings), upstreams=upstreams), "vpsmcp", groups, has_polkit)


def test_with_every_tool_disabled_nothing_is_granted() -> None:
    result = grants(disabled=EVERY_TOOL_GROUP)
    assert (result.dropin, result.polkit_rule, result.notes) == (None, None, ())


def test_default_tools_see_processes_and_read_the_journal_but_gain_no_write() -> None:
    dropin = grants().dropin or ""
    assert "ProtectProc=default" in dropin and "SupplementaryGroups=systemd-journal" in dropin
    assert "ReadWritePaths" not in dropin and "MemoryDenyWriteExecute" not in dropin and "ProtectHome" not in dropin


@pytest.mark.parametrize(
    ("tools", "expected", "absent"),
    [
        ({"disabled": ("status", "processes", "network")}, "SupplementaryGroups=systemd-journal", "ProtectProc"),
        ({"disabled": ("logs",)}, "ProtectProc=default", "systemd-journal"),
        ({"exec_enabled": True}, "MemoryDenyWriteExecute=no", "ReadWritePaths"),
        ({"roots": ("/srv/site",)}, "ReadWritePaths=-/srv/site", "ProtectHome"),
        ({"roots": ("/home/owner/app",)}, "ProtectHome=read-only\n# files_delete", "ProtectHome=no"),
        ({"roots": ("/srv/site",), "disabled": ("files",)}, "ProtectProc", "ReadWritePaths"),
        ({"roots": ("/srv",), "backup_dir": "/var/backups/vpsmcp"}, "ReadWritePaths=-/var/backups/vpsmcp", "\n\n"),
        ({"upstreams": {"fs": UpstreamConfig(argv=("npx", "server"))}}, "stdio upstreams (fs)", "exec:"),
        ({"upstreams": {"web": UpstreamConfig(url="http://127.0.0.1:9/mcp")}}, "ProtectProc", "MemoryDeny"),
    ],
)
def test_each_tool_gets_only_what_it_needs(tools: dict[str, Any], expected: str, absent: str) -> None:
    dropin = grants(**tools).dropin or ""
    assert expected in dropin and absent not in dropin, dropin


def test_docker_group_is_granted_only_where_it_exists_and_with_a_warning() -> None:
    assert "docker" not in (grants().dropin or "")
    assert any("no docker group" in note for note in grants().notes)
    dropin = grants(GROUPS | {"docker"}).dropin or ""
    assert "SupplementaryGroups=docker" in dropin and "as good as root" in dropin


def test_services_control_gets_no_rule_until_services_are_named() -> None:
    result = grants()
    assert result.polkit_rule is None and any("services_allow" in note for note in result.notes)


def test_without_polkit_no_rule_is_written_and_the_owner_is_told() -> None:
    result = grants(has_polkit=False, services_allow=("nginx",))
    assert result.polkit_rule is None and any("apt-get install polkitd" in note for note in result.notes)


ALLOWED = [("nginx.service", "restart"), ("app.service", "start"), ("nginx.service", "reload")]
REFUSED = [
    ("other.service", "restart"),  # not named
    ("nginx.service", "mask"),  # not a control verb
    ("run-u7.service", "start"),  # a transient unit (systemd-run): root for whoever may start it
]


def test_polkit_rule_allows_the_named_services_and_nothing_else() -> None:
    rule = grants(services_allow=("nginx", "app.service")).polkit_rule
    assert rule is not None
    cases = [(u, v, "vpsmcp", "org.freedesktop.systemd1.manage-units") for u, v in ALLOWED + REFUSED]
    cases += [("nginx.service", "restart", "www-data", "org.freedesktop.systemd1.manage-units"),
              ("nginx.service", "enable", "vpsmcp", "org.freedesktop.systemd1.manage-unit-files")]
    answers = run_rule(rule, cases)
    assert answers == ["yes"] * len(ALLOWED) + ["not_handled"] * (len(cases) - len(ALLOWED))


def run_rule(rule: str, cases: list[tuple[str, str, str, str]]) -> list[str]:
    """Evaluate the rule as polkitd would (its JavaScript API, mocked), once per (unit, verb, user, action)."""
    harness = f"""
const rules = [];
const polkit = {{ Result: {{ YES: "yes", NO: "no", NOT_HANDLED: "not_handled" }}, addRule: f => rules.push(f) }};
{rule}
const answers = {json.dumps(cases)}.map(([unit, verb, user, id]) => {{
  const action = {{ id, lookup: key => ({{ unit, verb }})[key] }};
  return rules[0](action, {{ user }}) ?? "not_handled";
}});
console.log(JSON.stringify(answers));
"""
    done = subprocess.run([str(node_bin()), "-e", harness], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))
