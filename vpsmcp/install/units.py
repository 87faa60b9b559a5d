"""Which systemd units run vpsmcp: ``vpsmcp.service``, or one ``vpsmcp@PORT.service`` for each of N instances.

``vpsmcp install --instances N`` (N > 1) installs the template
``vpsmcp@.service`` — the shipped unit with ``--instance %i --port %i`` on its
``ExecStart`` — and enables it for the N consecutive ports from
``server.port``, so an instance's name is its port and its audit chain, trace
and saved sessions live in ``STATE_DIR/instances/PORT``. The nginx site gets
one ``server`` line each. What is installed is read back from the enabled
links, so ``upgrade`` restarts each instance in turn (the next only once the
one before answers: the site is never left without one) and ``uninstall``
stops them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vpsmcp.errors import InstallError
from vpsmcp.install.layout import DROPIN, DROPIN_DIR, ENABLED_LINK, UNIT, System
from vpsmcp.install.templates import UNIT as UNIT_FILE
from vpsmcp.install.templates import deploy_file

TEMPLATE_UNIT = "/etc/systemd/system/vpsmcp@.service"
TEMPLATE_DROPIN_DIR = "/etc/systemd/system/vpsmcp@.service.d"
WANTS = os.path.dirname(ENABLED_LINK)
MAX_INSTANCES = 16


@dataclass(frozen=True, slots=True)
class Units:
    """The one unit (``ports`` empty), or an instance unit per port."""

    ports: tuple[int, ...] = ()

    @classmethod
    def of(cls, instances: int, port: int) -> Units:
        if not 1 <= instances <= MAX_INSTANCES:
            raise InstallError(f"--instances {instances}: from 1 to {MAX_INSTANCES}")
        if instances > 1 and port + instances - 1 > 65535:
            raise InstallError(f"server.port {port} leaves no room for {instances} consecutive ports")
        return cls(tuple(range(port, port + instances)) if instances > 1 else ())

    @classmethod
    def installed(cls, system: System) -> Units:
        """What the enabled links say runs now (the one unit when none is enabled)."""
        wants = system.path(WANTS)
        names = sorted(os.listdir(wants)) if wants.is_dir() else []
        ports = [n[len("vpsmcp@"):-len(".service")] for n in names if n.startswith("vpsmcp@") and n.endswith(".service")]
        return cls(tuple(sorted(int(p) for p in ports if p.isdigit())))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"vpsmcp@{port}.service" for port in self.ports) or ("vpsmcp.service",)

    @property
    def unit_file(self) -> str:
        return TEMPLATE_UNIT if self.ports else UNIT

    @property
    def dropin_dir(self) -> str:
        return TEMPLATE_DROPIN_DIR if self.ports else DROPIN_DIR

    @property
    def dropin(self) -> str:
        return f"{self.dropin_dir}/{os.path.basename(DROPIN)}"

    def enabled_link(self, name: str) -> str:
        return f"{WANTS}/{name}"

    def unit_text(self) -> str:
        return template_unit() if self.ports else deploy_file(UNIT_FILE)

    def upstreams(self, host_port: str) -> tuple[str, ...]:
        """nginx's ``server`` lines: ``host_port`` (the one unit's), or the same host on each instance's port."""
        host = host_port.rsplit(":", 1)[0]
        return tuple(f"{host}:{port}" for port in self.ports) or (host_port,)

    def health_urls(self, host_port: str) -> tuple[str, ...]:
        return tuple(f"http://{upstream}/healthz" for upstream in self.upstreams(host_port))


def template_unit() -> str:
    """The shipped unit as a template: each instance named by, and listening on, its port (``%i``)."""
    text = deploy_file(UNIT_FILE)
    start = next((line for line in text.splitlines() if line.startswith("ExecStart=")), None)
    if start is None or "serve" not in start:
        raise InstallError(f"{UNIT_FILE} has no ExecStart=… serve line to make instances of")
    text = text.replace(start, start + " --instance %i --port %i", 1)
    return text.replace("Description=vpsmcp remote MCP server", "Description=vpsmcp remote MCP server (instance on port %i)", 1)
