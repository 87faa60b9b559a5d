"""``vpsmcp uninstall``: remove what install created; keep the state unless ``--purge``.

The nginx site goes first and nginx is checked and reloaded without it, so a
failure there puts the site back while vpsmcp still runs. Then the service
is stopped and its files removed. The config and the state directory
(tokens, clients, the owner password, the audit log) stay, and so does the
service user that owns them, unless ``--purge``; certificates are certbot's
and are never touched.
"""

from __future__ import annotations

from vpsmcp.install.layout import (
    CONFIG,
    DROPIN_DIR,
    ENABLED_LINK,
    POLKIT_RULE,
    PYZ,
    STATE_DIR,
    UNIT,
    USER,
    System,
)
from vpsmcp.install.plan import Plan, Remove, Run, Step
from vpsmcp.install.units import TEMPLATE_DROPIN_DIR, TEMPLATE_UNIT, Units

NGINX_SITES = (
    "/etc/nginx/sites-enabled/vpsmcp.conf",
    "/etc/nginx/sites-available/vpsmcp.conf",
    "/etc/nginx/conf.d/vpsmcp.conf",
)
PROGRAM_DIR = PYZ.rsplit("/", 1)[0]
CONFIG_DIR = CONFIG.rsplit("/", 1)[0]


def plan_uninstall(system: System, purge: bool) -> Plan:
    """The steps that remove vpsmcp from ``system``."""
    steps: list[Step] = []
    sites = [path for path in NGINX_SITES if system.exists(path)]
    steps += [Remove(path, "the nginx site") for path in sites]
    if sites:
        steps.append(Run(("nginx", "-t"), "check nginx without the site before reloading it"))
        steps.append(Run(("systemctl", "reload", "nginx.service"), "stop serving the site"))
    if system.exists(UNIT) or system.exists(ENABLED_LINK):
        steps.append(Run(("systemctl", "disable", "--now", "vpsmcp.service"), "stop the service, and at boot"))
    instances = Units.installed(system)
    for name in instances.names if instances.ports else ():
        steps.append(Run(("systemctl", "disable", "--now", name), "stop the instance, and at boot"))
    steps += [Remove(path, why, tree=path in (DROPIN_DIR, TEMPLATE_DROPIN_DIR)) for path, why in _files(system)]
    if system.exists(UNIT) or system.exists(TEMPLATE_UNIT):
        steps.append(Run(("systemctl", "daemon-reload"), "systemd forgets the unit"))
    if system.exists(PROGRAM_DIR):
        steps.append(Remove(PROGRAM_DIR, "the program and the previous version", tree=True))
    kept = [path for path in (CONFIG_DIR, STATE_DIR) if system.exists(path)]
    if purge:
        if system.has_user(USER):
            steps.append(Run(("userdel", USER), "the service user"))
        steps += [Remove(path, "--purge", tree=True) for path in kept]
        kept = []
    notes = ("the config and the state (tokens, clients, owner password, audit log) are kept; --purge removes them",) if kept else ()
    return Plan("uninstall vpsmcp", tuple(steps), tuple(kept), notes)


def _files(system: System) -> list[tuple[str, str]]:
    candidates = [
        (UNIT, "the unit"),
        (DROPIN_DIR, "the tools' drop-in"),
        (TEMPLATE_UNIT, "the instances' unit"),
        (TEMPLATE_DROPIN_DIR, "the instances' drop-in"),
        (POLKIT_RULE, "the services_control polkit rule"),
    ]
    return [(path, why) for path, why in candidates if system.exists(path)]
