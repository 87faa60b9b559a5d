"""The URLs this server is known by: issuer, protected resources, metadata.

Every URL a client sees is built here from the public URL (``server.public_url``,
or ``http://LISTEN:PORT``), never from the request's ``Host``, so behind nginx
they are the public https ones and never the internal ``127.0.0.1:port``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from vpsmcp import paths

PRM_PATH = "/.well-known/oauth-protected-resource"


def canonical(url: str) -> str:
    """RFC 8707 §2 / MCP: lower-case scheme and host, no fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


@dataclass(frozen=True, slots=True)
class Resources:
    """The public base URL and everything derived from it."""

    base: str

    @classmethod
    def of(cls, public_url: str) -> Resources:
        return cls(canonical(public_url))

    @property
    def issuer(self) -> str:
        """RFC 8414 issuer: byte-identical to the PRM's ``authorization_servers`` entry."""
        return self.base

    def url(self, path: str) -> str:
        return self.base + path

    def resource(self, path: str) -> str:
        """The resource identifier of ``/mcp``, ``/sse`` or ``/ws``; the base for anything else."""
        return self.base + path if path in paths.PROTECTED else self.base

    def metadata_url(self, path: str) -> str:
        """RFC 9728 §3.1: the well-known URL, path inserted, of a resource's metadata."""
        return self.base + PRM_PATH + (path if path in paths.PROTECTED else "")

    def canonical(self, url: str) -> str:
        return canonical(url)

    def accepts(self, resource: str) -> bool:
        """Whether a token bound to ``resource`` is meant for this server (asked on every request)."""
        return _accepts(self.base, resource)


@functools.lru_cache(maxsize=256)  # tokens name a handful of resources; parsing URLs is the costly part
def _accepts(base: str, resource: str) -> bool:
    return canonical(resource) in {base, *(base + p for p in paths.PROTECTED)}
