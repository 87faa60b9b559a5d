"""``vpsmcp upgrade NEW.pyz`` and ``upgrade --rollback``: swap the program, keep the one before.

The installed file is only ever replaced by a rename (``write_atomic``), so
the service never starts from half a pyz; the previous version is saved
first, beside it, for ``--rollback``. After the restart the health check
decides: if the new version does not answer, the previous file is put back
and started again, and the error says so. With several instances each is
restarted in turn, the next only once the one before answers, so nginx
always has one to send requests to.
"""

from __future__ import annotations

from collections.abc import Callable

from vpsmcp.config.sections import parse_config
from vpsmcp.errors import InstallError
from vpsmcp.install.install import check_pyz
from vpsmcp.install.layout import CONFIG, PREVIOUS_PYZ, PYZ, System
from vpsmcp.install.plan import CheckHealth, Plan, Run, Step, Target, WriteFile, carry_out
from vpsmcp.install.site import upstream_of
from vpsmcp.install.units import Units


def plan_upgrade(new: bytes, system: System) -> Plan:
    """Replace the installed pyz by ``new``, keeping the installed one as the previous version."""
    check_pyz(new, "the new pyz")
    current = _installed(system)
    if current == new:
        return Plan("upgrade vpsmcp", (), (f"{PYZ} (this pyz is already installed)",))
    return Plan("upgrade vpsmcp", _swap(system, current, new, "the new version"))


def plan_rollback(system: System) -> Plan:
    """Put the previous pyz back; the one it replaces becomes the previous, so a rollback can be undone."""
    current = _installed(system)
    previous = system.read(PREVIOUS_PYZ)
    if previous is None:
        raise InstallError(f"no previous version is kept ({PREVIOUS_PYZ}): nothing to roll back to")
    return Plan("roll vpsmcp back", _swap(system, current, previous, "the previous version"))


def carry_out_swap(plan: Plan, target: Target, report: Callable[[Step], None]) -> None:
    """Carry out an upgrade or rollback; if it fails, start the version that was there before."""
    try:
        carry_out(plan, target, report)
    except InstallError as exc:
        if not any(isinstance(step, Run) for step in plan.steps):
            raise
        try:
            for step in plan.steps:
                if isinstance(step, Run):
                    target.runner.run(step.argv)
                elif isinstance(step, CheckHealth):
                    target.runner.check_health(step.url)
        except InstallError as again:
            raise InstallError(f"{exc}; the version before was put back but does not start either: {again}") from None
        raise InstallError(f"{exc}; the version before was put back and runs again") from None


def _installed(system: System) -> bytes:
    current = system.read(PYZ)
    if current is None:
        raise InstallError(f"vpsmcp is not installed here (no {PYZ}): run `vpsmcp install` first")
    return current


def _swap(system: System, current: bytes, new: bytes, what: str) -> tuple[Step, ...]:
    config = system.read(CONFIG)
    if config is None:
        raise InstallError(f"{CONFIG} is missing: run `vpsmcp install` to write it")
    units = Units.installed(system)
    urls = units.health_urls(upstream_of(parse_config(config.decode("utf-8", "replace"), CONFIG)))
    restarts: list[Step] = []
    for name, url in zip(units.names, urls, strict=True):
        restarts += [Run(("systemctl", "restart", name), f"run {what}"), CheckHealth(url, f"{what} answers")]
    return (
        WriteFile(PREVIOUS_PYZ, current, 0o644, "the version now installed, kept for --rollback", shown=False),
        WriteFile(PYZ, new, 0o644, what, shown=False),
        *restarts,
    )
