"""The nginx site for a public URL: the shipped template with this machine's names.

``Site`` holds exactly what the template leaves open; install builds one
from the public URL and the config, and the tests build one with their own
ports, certificate and shorter timeouts, so both run the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from vpsmcp.config.sections import Config
from vpsmcp.errors import InstallError
from vpsmcp.install.templates import NGINX_ACME_SITE, NGINX_SITE, Value, deploy_file, render

# Far above the heartbeat (a stream is never silent longer) and Claude's 300 s
# tool-call limit; it only ends a connection whose upstream has gone silent.
PROXY_TIMEOUT = "3600s"


@dataclass(frozen=True, slots=True)
class Site:
    """What differs between one nginx site for vpsmcp and another."""

    public_url: str
    upstream: str | tuple[str, ...]  # host:port of each instance
    https_listen: tuple[str, ...]
    http_listen: tuple[str, ...]
    certificate: str
    certificate_key: str
    acme_root: str
    max_body: int
    read_timeout: str = PROXY_TIMEOUT
    send_timeout: str = PROXY_TIMEOUT

    @classmethod
    def public(cls, public_url: str, config: Config, certificate: str, certificate_key: str, acme_root: str,
               upstream: tuple[str, ...] = ()) -> Site:
        """The site a VPS serves: https on the URL's port (443) and http on 80, IPv4 and IPv6; ``upstream``,
        one ``host:port`` per instance (default: the one ``server.listen`` and ``server.port`` name)."""
        port = https_port(public_url)
        return cls(
            public_url=public_url.rstrip("/"),
            upstream=upstream or upstream_of(config),
            https_listen=(str(port), f"[::]:{port}"),
            http_listen=("80", "[::]:80"),
            certificate=certificate,
            certificate_key=certificate_key,
            acme_root=acme_root,
            max_body=config.mcp.max_body_bytes,
        )

    @property
    def server_name(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    def render(self) -> str:
        """The full site: the ACME and redirect server on http, vpsmcp on https."""
        values: dict[str, Value] = {
            "SERVER_NAME": self.server_name,
            "PUBLIC_URL": self.public_url,
            "UPSTREAM": self.upstream,
            "HTTPS_LISTEN": self.https_listen,
            "HTTP_LISTEN": self.http_listen,
            "CERTIFICATE": self.certificate,
            "CERTIFICATE_KEY": self.certificate_key,
            "ACME_ROOT": self.acme_root,
            "MAX_BODY": str(self.max_body),
            "READ_TIMEOUT": self.read_timeout,
            "SEND_TIMEOUT": self.send_timeout,
        }
        return render(deploy_file(NGINX_SITE), values, NGINX_SITE)

    def render_acme(self) -> str:
        """The site before a certificate exists: certbot's challenges on http, nothing else."""
        values: dict[str, Value] = {
            "SERVER_NAME": self.server_name,
            "HTTP_LISTEN": self.http_listen,
            "ACME_ROOT": self.acme_root,
        }
        return render(deploy_file(NGINX_ACME_SITE), values, NGINX_ACME_SITE)


def https_port(public_url: str) -> int:
    """The port of an https public URL; anything but https is refused."""
    parts = urlsplit(public_url)
    if parts.scheme != "https" or not parts.hostname:
        raise InstallError(
            f"the public URL must be https://HOST (Claude connects only over https on port 443), not {public_url!r}"
        )
    try:
        return parts.port or 443
    except ValueError:
        raise InstallError(f"the public URL {public_url!r} has a bad port") from None


def upstream_of(config: Config) -> str:
    """``host:port`` nginx reaches vpsmcp at: its listen address, or loopback for a wildcard."""
    host = config.server.listen
    if host in ("localhost", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if config.server.port == 0:
        raise InstallError("server.port is 0 (any free port): nginx needs a fixed port to reach vpsmcp")
    return f"[{host}]:{config.server.port}" if ":" in host else f"{host}:{config.server.port}"
