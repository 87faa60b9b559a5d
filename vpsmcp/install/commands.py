"""The ``install``, ``upgrade`` and ``uninstall`` commands: a few lines over the plans.

Each computes its plan, then either prints it (``--dry-run``) or carries it
out. ``--root DIR`` stages the files under DIR instead of ``/`` and runs no
command (they would act on this machine, not on DIR): it lists them instead,
for whoever builds an image or a package from the tree.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpsmcp.errors import InstallError
from vpsmcp.install.layout import PYTHON, System

if TYPE_CHECKING:
    from vpsmcp.install.plan import Plan


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "install",
        help="install as a system service behind nginx (root)",
        description="Install the pyz, its user, config, systemd unit, grants and nginx site; start it. "
        "Running it again changes only what differs.",
    )
    p.add_argument("--public-url", metavar="URL", help="https URL clients use (needed the first time)")
    p.add_argument("--pyz", type=Path, metavar="PATH", help="the pyz to install (default: the one running)")
    p.add_argument("--certificate", metavar="PATH", help="TLS certificate chain (default: certbot's for the host)")
    p.add_argument("--certificate-key", metavar="PATH", help="its private key")
    p.add_argument("--instances", type=int, metavar="N",
                   help="run N instances (vpsmcp@PORT.service on N consecutive ports from server.port) behind the "
                   "one site, so a restart or a crash of one leaves the others serving (default: as installed, 1)")
    _common(p)
    p.set_defaults(command=_install)

    p = sub.add_parser(
        "upgrade",
        help="replace the installed pyz, keeping the previous one (root)",
        description="Swap in a new pyz atomically, restart, and check /healthz; --rollback swaps back.",
    )
    p.add_argument("new_pyz", nargs="?", type=Path, metavar="NEW_PYZ", help="the new vpsmcp.pyz")
    p.add_argument("--rollback", action="store_true", help="go back to the previous version")
    _common(p)
    p.set_defaults(command=_upgrade)

    p = sub.add_parser(
        "uninstall",
        help="remove what install created (root)",
        description="Remove the service, its unit, grants and nginx site. The config, the state and the "
        "service user stay unless --purge.",
    )
    p.add_argument("--purge", action="store_true", help="also remove the config, the state and the user")
    _common(p)
    p.set_defaults(command=_uninstall)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print every file and command, change nothing")
    p.add_argument("--root", type=Path, metavar="DIR", help="write the files under DIR and run no command")


def _install(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.install.install import InstallRequest, plan_install, read_pyz  # the plans only when one runs
    from vpsmcp.install.plan import carry_out

    system = _system(args, "install")
    request = InstallRequest(read_pyz(args.pyz), args.public_url, args.certificate, args.certificate_key,
                             args.instances)
    result = plan_install(request, system)
    ran = _carry_out(result.plan, args, system, carry_out)
    for note in result.plan.notes:
        print(f"note: {note}")
    if result.password and ran:
        print(f"owner password: {result.password}")
    elif result.password:
        print("note: a new owner password would be generated and shown here once")
    if args.root is None and not args.dry_run:
        print(f"client ID metadata documents: {client_metadata_reach()}")
    return 0


def client_metadata_reach() -> str:
    """Whether this machine can fetch Claude's client metadata document (as the service will, in auto mode)."""
    import asyncio  # here: asyncio costs 15 ms at start, and most commands never run a loop

    from vpsmcp.config.sections import AuthConfig  # here: the other commands need not import the OAuth server
    from vpsmcp.oauth.cimd import CimdResolver
    from vpsmcp.oauth.cimd_offer import CimdOffer

    auth = AuthConfig()
    offer = CimdOffer(auth.client_metadata, auth.client_metadata_probe, CimdResolver())
    asyncio.run(offer.check())
    return offer.describe()


def _upgrade(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.install.install import read_pyz
    from vpsmcp.install.upgrade import carry_out_swap, plan_rollback, plan_upgrade

    system = _system(args, "upgrade")
    if args.rollback == (args.new_pyz is not None):
        raise InstallError("name the new pyz, or pass --rollback (not both)")
    plan = plan_rollback(system) if args.rollback else plan_upgrade(read_pyz(args.new_pyz), system)
    _carry_out(plan, args, system, carry_out_swap)
    return 0


def _uninstall(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.install.plan import carry_out
    from vpsmcp.install.remove import plan_uninstall

    system = _system(args, "uninstall")
    plan = plan_uninstall(system, args.purge)
    _carry_out(plan, args, system, carry_out)
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def _system(args: argparse.Namespace, command: str) -> System:
    root: Path = args.root or Path("/")
    if args.root is not None and not root.is_dir():
        raise InstallError(f"--root {root}: not a directory")
    if args.root is None and not args.dry_run:
        if os.geteuid() != 0:
            raise InstallError(f"{command} changes system files: run it as root (sudo python3 vpsmcp.pyz …)")
        if not Path("/run/systemd/system").is_dir():
            raise InstallError("systemd is not running here: the service needs it as the init system")
    if not (root / PYTHON.lstrip("/")).exists():
        raise InstallError(f"{PYTHON} is missing: the service runs the pyz with it (apt-get install python3)")
    return System(root)


def _carry_out(plan: Plan, args: argparse.Namespace, system: System, how: Any) -> bool:
    """Print or carry out ``plan``; True when it was carried out."""
    from vpsmcp.install.plan import CheckHealth, RecordingRunner, Run, Runner, Step, SystemRunner, Target

    if args.dry_run:
        print(plan.describe())
        return False
    if not plan.steps:
        print(f"{plan.title}: nothing to change, everything is already as asked")
        return True
    staged = args.root is not None
    runner: Runner = RecordingRunner() if staged else SystemRunner()

    def report(step: Step) -> None:
        skipped = staged and isinstance(step, (Run, CheckHealth))
        print(f"  {'not done (--root)' if skipped else 'done'}: {step.describe()[0]}", flush=True)

    print(f"{plan.title}{f' under {system.root}' if staged else ''}:")
    how(plan, Target(system.root, runner), report)
    return True
