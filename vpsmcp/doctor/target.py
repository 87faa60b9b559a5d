"""The server being checked: the MCP URL a person would paste into Claude."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from vpsmcp.doctor.model import DoctorError

DEFAULT_PATH = "/mcp"
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """An MCP endpoint URL, split once: ``https://host[:port]/path``."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" if default else f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.path

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    def at(self, path: str) -> str:
        """A URL on the same origin."""
        return self.origin + path

    @property
    def host_header(self) -> str:
        return self.origin.split("://", 1)[1]


def parse_target(text: str) -> Target:
    """``https://host`` or ``https://host/mcp`` (any path); the path defaults to ``/mcp``."""
    parts = urlsplit(text.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise DoctorError(f"{text!r} is not an http(s) URL such as https://mcp.example.com/mcp")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DoctorError(f"{text!r}: give the MCP URL without query, fragment or credentials")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise DoctorError(f"{text!r} has an invalid port") from None
    path = parts.path.rstrip("/") or DEFAULT_PATH
    return Target(parts.scheme, parts.hostname.lower(), port, path)


def canonical(url: str) -> str:
    """RFC 8707 §2 as MCP uses it: lower-case scheme and host, default port dropped, no trailing slash."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.lower()
    default = DEFAULT_PORTS.get(parts.scheme.lower())
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(f":{default}")]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def origin_of(url: str) -> str:
    parts = urlsplit(canonical(url))
    return f"{parts.scheme}://{parts.netloc}"


def is_internal_host(host: str) -> bool:
    """Loopback, private, link-local or reserved: an address no one else can reach."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
