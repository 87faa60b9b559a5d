"""``vpsmcp install``: the pyz, its user, config, unit, grants and nginx site, as one plan.

The plan holds only what differs from the machine as it is, so a second run
finds nothing to do and says so. Order matters and is fixed here: the user
before anything it owns; the owner password written before the first start
(else ``serve`` would make one and log it); ``nginx -t`` before nginx is
reloaded, so a bad site is put back, never served; the health check before
nginx sends traffic to the service.
"""

from __future__ import annotations

import secrets
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from vpsmcp import paths
from vpsmcp.config.sections import Config, dump_config, parse_config, with_overrides
from vpsmcp.errors import InstallError
from vpsmcp.install.grants import grants_for
from vpsmcp.install.layout import (
    ACME_ROOT,
    CONFIG,
    OWNER_PASSWORD,
    POLKIT_RULE,
    PYZ,
    STATE_DIR,
    USER,
    NginxLayout,
    System,
    letsencrypt_paths,
)
from vpsmcp.install.plan import CheckHealth, CheckSite, MakeDir, Plan, Remove, Run, Step, Symlink, WriteFile
from vpsmcp.install.site import Site, upstream_of
from vpsmcp.install.units import Units
from vpsmcp.oauth.owner import hash_password


@dataclass(frozen=True, slots=True)
class InstallRequest:
    """What the owner asked for: the pyz's bytes, the public URL (once), an existing certificate,
    how many instances (``None``: as many as are installed, one the first time)."""

    pyz: bytes
    public_url: str | None = None
    certificate: str | None = None
    certificate_key: str | None = None
    instances: int | None = None


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """The plan, and the owner password it sets (shown once, after it is carried out)."""

    plan: Plan
    password: str | None


def running_pyz() -> Path | None:
    """The pyz this code runs from, or None when it runs from a checkout."""
    for parent in Path(__file__).resolve().parents:
        if parent.is_file():
            return parent
    return None


def read_pyz(path: Path | None) -> bytes:
    """The bytes of the pyz to install, checked to be a vpsmcp zipapp."""
    path = path or running_pyz()
    if path is None:
        raise InstallError("run install from the pyz (python3 vpsmcp.pyz install …), or name one with --pyz")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc.strerror or exc}") from None
    check_pyz(data, str(path))
    return data


def check_pyz(data: bytes, name: str) -> None:
    """Refuse anything that is not a vpsmcp zipapp."""
    try:
        names = set(zipfile.ZipFile(BytesIO(data)).namelist())
    except zipfile.BadZipFile:
        raise InstallError(f"{name} is not a zipapp (build one with: python3 build.py)") from None
    if not {"__main__.py", "vpsmcp/__init__.py"} <= names:
        raise InstallError(f"{name} is a zip file but not vpsmcp's pyz (no __main__.py or vpsmcp/)")


def plan_install(request: InstallRequest, system: System) -> InstallPlan:
    """Everything install would change on ``system``, in order."""
    config_text, config = _config(request, system)
    hostname = urlsplit(config.server.public_url).hostname or ""
    if bool(request.certificate) != bool(request.certificate_key):
        raise InstallError("--certificate and --certificate-key go together")
    certificate, key = letsencrypt_paths(hostname)
    if request.certificate and request.certificate_key:
        certificate, key = request.certificate, request.certificate_key
    has_certificate = system.exists(certificate) and system.exists(key)
    before = Units.installed(system)
    units = before if request.instances is None else Units.of(request.instances, config.server.port)
    site = Site.public(config.server.public_url, config, certificate, key, ACME_ROOT,
                       units.upstreams(upstream_of(config)))
    nginx = NginxLayout.find(system.root)
    grants = grants_for(config, USER, system.groups(), system.has_polkit())
    b = Builder(system)
    if not system.has_user(USER):
        b.run(("useradd", "--system", "--user-group", "--home-dir", STATE_DIR, "--no-create-home",
               "--shell", "/usr/sbin/nologin", USER), "the service's own user")
    b.directory("/usr/local/lib/vpsmcp", 0o755, "holds the program")
    b.file(PYZ, request.pyz, 0o644, "the program", shown=False)
    b.directory("/etc/vpsmcp", 0o755, "the config (the service reads it, only root changes it)")
    if config_text is not None:
        b.file(CONFIG, config_text.encode(), 0o644, "the config (no secrets: those stay in the state directory)")
    else:
        b.unchanged.append(CONFIG)  # the owner's: never rewritten
    b.file(units.unit_file, units.unit_text().encode(), 0o644,
           "the hardened service" + (f", a template for {len(units.ports)} instances" if units.ports else ""))
    if grants.dropin is not None:
        b.directory(units.dropin_dir, 0o755, f"drop-ins for {units.unit_file.rsplit('/', 1)[1]}")
    b.optional_file(units.dropin, grants.dropin, "what the enabled tools need beyond the hardened unit")
    password = _owner_password(b, system)
    b.optional_file(POLKIT_RULE, grants.polkit_rule, "lets services_control manage the services it names")
    b.directory(ACME_ROOT, 0o755, "certbot's challenges")
    b.file(nginx.site, (site.render() if has_certificate else site.render_acme()).encode(), 0o644, "the nginx site")
    if nginx.enabled_link:
        b.link(nginx.enabled_link, nginx.site, "enables the site")
    b.commands(config, nginx, config.server.public_url + paths.HEALTHZ if has_certificate else None, units, before)
    notes = _notes(config.server.public_url, has_certificate, hostname, password is not None) + grants.notes
    return InstallPlan(Plan("install vpsmcp", tuple(b.steps), tuple(b.unchanged), notes), password)


def _config(request: InstallRequest, system: System) -> tuple[str | None, Config]:
    """(new config text or None to keep the existing file, the config in force)."""
    existing = system.read(CONFIG)
    if existing is not None:
        config = parse_config(existing.decode("utf-8", "replace"), str(system.path(CONFIG)))
        if request.public_url and request.public_url.rstrip("/") != config.server.public_url.rstrip("/"):
            raise InstallError(
                f"{CONFIG} has server.public_url = {config.server.public_url!r}; "
                f"change it there to move to {request.public_url!r} (install never edits an existing config)"
            )
        if not config.server.public_url:
            raise InstallError(f"{CONFIG} has no server.public_url; set it to the https URL clients use")
        return None, config
    if not request.public_url:
        raise InstallError("the first install needs --public-url https://HOST (the URL clients use)")
    overrides = {
        "server.public_url": request.public_url.rstrip("/"),
        "server.listen": "127.0.0.1",
        "server.state_dir": STATE_DIR,
        "auth.trusted_proxies": ["127.0.0.1"],
    }
    config = with_overrides(Config(), overrides, "--public-url")
    Site.public(config.server.public_url, config, "-", "-", ACME_ROOT)  # refuses a non-https URL early
    text = dump_config(config)
    parse_config(text, CONFIG)  # what we write must load back
    return text, config


def _owner_password(b: Builder, system: System) -> str | None:
    if system.exists(OWNER_PASSWORD):
        return None
    password = secrets.token_urlsafe(15)
    b.directory(STATE_DIR, 0o700, "the state directory")
    b.file(OWNER_PASSWORD, hash_password(password).encode() + b"\n", 0o600, "the owner password's hash", shown=False)
    b.run(("chown", "-R", f"{USER}:{USER}", STATE_DIR), "the state belongs to the service user")
    return password


def _notes(public_url: str, has_certificate: bool, hostname: str, new_password: bool) -> tuple[str, ...]:
    notes = []
    if not has_certificate:
        notes.append(
            f"one step remains: get a certificate with `certbot certonly --webroot -w {ACME_ROOT} -d {hostname}`, "
            "then run this install again to switch the site to https"
        )
    notes.append(f"in Claude, add a custom connector with the URL {public_url}/mcp")
    if new_password:
        notes.append("the owner password is shown once, below: you type it on the consent page")
    return tuple(notes)


class Builder:
    """Collects the steps whose result differs from what ``system`` has; remembers what changed."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.steps: list[Step] = []
        self.unchanged: list[str] = []
        self.changed: set[str] = set()

    def file(self, path: str, content: bytes, mode: int, why: str, shown: bool = True) -> None:
        if self.system.read(path) == content and self.system.mode(path) == mode:
            self.unchanged.append(path)
            return
        self.steps.append(WriteFile(path, content, mode, why, shown))
        self.changed.add(path)

    def optional_file(self, path: str, text: str | None, why: str) -> None:
        """Write ``text`` at ``path``, or remove the file when there is nothing to say."""
        if text is not None:
            self.file(path, text.encode(), 0o644, why)
        elif self.system.exists(path):
            self.steps.append(Remove(path, "no enabled tool needs it any more"))
            self.changed.add(path)

    def directory(self, path: str, mode: int, why: str) -> None:
        if self.system.mode(path) != mode or not self.system.path(path).is_dir():
            self.steps.append(MakeDir(path, mode, why))

    def link(self, path: str, points_to: str, why: str) -> None:
        if self.system.link(path) == points_to:
            self.unchanged.append(path)
            return
        self.steps.append(Symlink(path, points_to, why))
        self.changed.add(path)

    def run(self, argv: tuple[str, ...], why: str) -> None:
        self.steps.append(Run(argv, why))

    def commands(self, config: Config, nginx: NginxLayout, https_url: str | None, units: Units, before: Units) -> None:
        """The commands that make the running system follow the files that changed.

        Units no longer wanted (another number of instances) stop first, so their ports are free;
        each wanted one is started or restarted and answers before the next, and before nginx is
        reloaded to send it traffic."""
        site_changed = bool(self.changed & set(nginx.paths()))
        if site_changed:
            self.run(("nginx", "-t"), "check the whole nginx configuration before reloading it")
        retired = [n for n in before.names if n not in units.names and self.system.exists(before.enabled_link(n))]
        for name in retired:
            self.steps.append(Run(("systemctl", "disable", "--now", name), "not wanted any more: its port is free",
                                  undo=("systemctl", "enable", "--now", name)))
        if before.unit_file != units.unit_file:
            for path in (before.unit_file, before.dropin_dir):
                if self.system.exists(path):
                    self.steps.append(Remove(path, "the other kind of unit", tree=path == before.dropin_dir))
                    self.changed.add(path)
        if self.changed & {units.unit_file, units.dropin, before.unit_file}:
            self.steps.append(Run(("systemctl", "daemon-reload"), "systemd reads the unit again", again_on_undo=True))
        service_changed = self.changed & {PYZ, units.unit_file, units.dropin, CONFIG, OWNER_PASSWORD, POLKIT_RULE}
        for name, url in zip(units.names, units.health_urls(upstream_of(config)), strict=True):
            started = self.system.exists(units.enabled_link(name))
            if not started:
                self.steps.append(Run(("systemctl", "enable", "--now", name), "start now and at every boot",
                                      undo=("systemctl", "disable", "--now", name)))
            elif service_changed:
                self.steps.append(Run(("systemctl", "restart", name), "run what changed",
                                      again_on_undo=True))  # after a failure: the previous program and config
            if service_changed or not started:
                self.steps.append(CheckHealth(url, "the service answers before nginx sends it traffic"))
        if site_changed:
            self.steps.append(Run(("systemctl", "reload-or-restart", "nginx.service"), "serve the new site",
                                  again_on_undo=True))
        if self.steps and https_url is not None:
            self.steps.append(CheckSite(https_url, "a client reaches vpsmcp through nginx by its name, with TLS"))
