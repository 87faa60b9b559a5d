"""Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document).

A client may use an https URL as its ``client_id``; the document at that URL
is its registration. We fetch it with bounded time and size, follow no
redirects, refuse hosts that resolve to private, loopback or link-local
addresses (unless the owner allows them), connect to the address we checked
(no second DNS lookup to rebind), check that the document names itself as
the ``client_id``, and cache it for the time the server says, within limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import h11
from authlib.oauth2.rfc6749 import InvalidClientError

from vpsmcp.oauth.records import Client
from vpsmcp.oauth.registration import InvalidClientMetadata, InvalidRedirectUri, check_redirect_uri

TIMEOUT = 5.0
CLOSE_TIMEOUT = 1.0  # a peer that stalls the TLS close costs at most this, on top of TIMEOUT
MAX_BYTES = 64 * 1024
MIN_TTL, DEFAULT_TTL, MAX_TTL = 60.0, 3600.0, 86400.0
MAX_STALE = 7 * 86400.0  # how long a document past its time still serves while it cannot be fetched
MAX_CACHED = 1000
MAX_AGE = re.compile(r"max-age=(\d+)")
UNCACHEABLE = re.compile(r"no-store|no-cache")
FIX = ("let this server reach the client's host over HTTPS (outbound port 443, working DNS and CA certificates), "
       "or set auth.client_metadata = 'off' so clients register dynamically instead")


class FetchFailed(InvalidClientError):  # type: ignore[misc]  # authlib's errors are untyped
    """A client metadata document could not be had; ``cause`` says why in words (DNS, TLS, …)."""

    def __init__(self, url: str, cause: str) -> None:
        # RFC 6749 §5.2 allows no '"' or '\\' in a description, and authlib enforces it.
        cause = cause.replace('"', "'").replace("\\", "/")
        self.cause = cause
        super().__init__(status_code=401, description=f"vpsmcp could not fetch the client metadata document {url}: "
                                                      f"{cause}. Fix: {FIX}.")


def is_metadata_url(client_id: str | None) -> bool:
    """Whether ``client_id`` is a CIMD URL (https with a path) rather than a registered id."""
    if not client_id or not client_id.startswith("https://"):
        return False
    try:
        parts = urlsplit(client_id)
        _ = parts.port  # raises for a port that is not a number in range
    except ValueError:
        return False  # then it is just an unknown client_id
    return bool(parts.hostname) and parts.path not in ("", "/")


def check_url(url: str) -> None:
    """draft-ietf-oauth-client-id-metadata-document §3: no fragment, no credentials, no dot segments anywhere."""
    parts = urlsplit(url)
    dots = any(segment in (".", "..") for segment in parts.path.split("/"))
    if parts.fragment or parts.username or parts.password or dots:
        raise InvalidClientError(status_code=401, description=f"client_id {url!r} is not a valid metadata document URL")


@dataclass(frozen=True, slots=True)
class _Cached:
    client: Client
    expires_at: float


@runtime_checkable
class DocumentShelf(Protocol):
    """Where instances sharing a store keep the documents any of them fetched (sqlite, redis)."""

    def put_document(self, client_id: str, record: dict[str, Any], expires_at: float) -> None: ...
    def document(self, client_id: str) -> tuple[dict[str, Any], float] | None: ...


class CimdResolver:
    """Fetches, validates and caches client metadata documents.

    A document past its time is fetched again; while it cannot be (an outage,
    a filtered egress), the old one serves for up to ``MAX_STALE``, so a
    client that already logged in is not locked out by a passing failure.
    With a ``shelf``, what one instance fetched serves the others as well: the
    owner may approve on one instance and the client's token request reach
    another while the document's host is unreachable from it.
    """

    def __init__(self, allow_private: bool = False, timeout: float = TIMEOUT,
                 shelf: DocumentShelf | None = None) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.shelf = shelf
        self._cache: dict[str, _Cached] = {}

    def cached(self, client_id: str) -> Client | None:
        """The client of a document fetched earlier, here or by another instance, and not too stale
        (authlib's client lookup)."""
        entry = self._cache.get(client_id) or self._shelved(client_id)
        return entry.client if entry and entry.expires_at + MAX_STALE > time.time() else None

    def _shelved(self, client_id: str) -> _Cached | None:
        found = self.shelf.document(client_id) if self.shelf is not None else None
        if found is None:
            return None
        entry = _Cached(Client.from_json(found[0]), found[1])
        self._cache[client_id] = entry
        return entry

    def remember(self, client: Client, ttl: float = DEFAULT_TTL) -> None:
        self._cache[client.client_id] = _Cached(client, time.time() + ttl)
        while len(self._cache) > MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))

    async def resolve(self, client_id: str) -> Client:
        """The client the document at ``client_id`` describes; ``InvalidClientError`` if none."""
        entry = self._cache.get(client_id)
        if (entry is None or entry.expires_at <= time.time()) and self.shelf is not None:
            entry = await asyncio.to_thread(self._shelved, client_id)  # a store read: off the event loop
        if entry is not None and entry.expires_at > time.time():
            return entry.client
        check_url(client_id)
        try:
            client, ttl = await self.fetch(client_id)
        except FetchFailed:
            stale = self.cached(client_id)
            if stale is not None:
                return stale
            raise
        self.remember(client, ttl)
        if self.shelf is not None:
            await asyncio.to_thread(self.shelf.put_document, client_id, client.to_json(), time.time() + ttl)
        return client

    async def fetch(self, url: str) -> tuple[Client, float]:
        """Fetch and validate the document at ``url``: its client and how long it may be cached."""
        try:
            async with asyncio.timeout(self.timeout):
                status, headers, body = await self._fetch(url)
        except TimeoutError:
            raise FetchFailed(url, f"no answer within {self.timeout:g} s (timeout)") from None
        except ssl.SSLCertVerificationError as exc:
            raise FetchFailed(url, f"TLS: the certificate is not trusted here ({exc.verify_message})") from None
        except (ssl.SSLError, h11.ProtocolError) as exc:
            raise FetchFailed(url, f"TLS or HTTP failed: {exc}") from None
        except socket.gaierror:
            raise FetchFailed(url, f"DNS: {urlsplit(url).hostname} does not resolve from this server") from None
        except _Refused as exc:
            raise FetchFailed(url, str(exc)) from None
        except OSError as exc:
            raise FetchFailed(url, f"cannot connect: {exc.strerror or exc}") from None
        if status != 200:
            raise FetchFailed(url, f"it answered HTTP {status} (redirects are not followed)")
        return document_client(url, body), _ttl(headers)

    async def _fetch(self, url: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        address = await self._public_address(host, port)
        reader, writer = await asyncio.open_connection(
            address, port, ssl=ssl.create_default_context(), server_hostname=host
        )
        try:
            return await _exchange(reader, writer, host, parts.path + (f"?{parts.query}" if parts.query else ""))
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await writer.wait_closed()

    async def _public_address(self, host: str, port: int) -> str:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if not self.allow_private and not ip.is_global:
                raise _Refused(f"{host} resolves to the non-public address {address}, which is refused "
                               "(auth.client_metadata_private_hosts allows it)")
        if not addresses:
            raise socket.gaierror(f"{host} does not resolve")
        return addresses[0]


class _Refused(OSError):
    """A fetch refused before connecting (SSRF protection) or a document over the size limit."""


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, target: str) -> tuple[int, dict[str, str], bytes]:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=16 * 1024)
    request = h11.Request(method="GET", target=target or "/", headers=[
        ("Host", host), ("Accept", "application/json"), ("User-Agent", "vpsmcp"), ("Connection", "close")])
    writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
    status, headers, body = 0, {}, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(16384))
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BYTES:
                raise _Refused(f"the document is larger than {MAX_BYTES} bytes")
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return status, headers, bytes(body)


def document_client(client_id: str, body: bytes) -> Client:
    """Validate a fetched document: it must name itself and list usable redirect URIs."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidClientError(status_code=401, description="the client metadata document is not JSON") from None
    if not isinstance(doc, dict) or doc.get("client_id") != client_id:
        raise InvalidClientError(status_code=401, description="the client metadata document does not name its own URL as client_id")
    method = doc.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise InvalidClientError(status_code=401, description=f"token_endpoint_auth_method {method!r} is not supported for metadata documents")
    uris = doc.get("redirect_uris")
    try:
        if not isinstance(uris, list) or not uris:
            raise InvalidRedirectUri("redirect_uris must be a non-empty list")
        redirect_uris = tuple(check_redirect_uri(u) for u in uris)
    except (InvalidRedirectUri, InvalidClientMetadata) as exc:
        raise InvalidClientError(status_code=401, description=f"the client metadata document is invalid: {exc.description}") from None
    name = doc.get("client_name")
    return Client(client_id, redirect_uris, "none", None, name if isinstance(name, str) else "", "cimd")


def _ttl(headers: dict[str, str]) -> float:
    """How long to keep a document: its ``max-age`` within [MIN_TTL, MAX_TTL]; the floor for ``no-store``."""
    control = headers.get("cache-control", "").lower()
    if UNCACHEABLE.search(control):
        return MIN_TTL  # still kept briefly: a login fetches it at /authorize and again at /token
    match = MAX_AGE.search(control)
    return min(MAX_TTL, max(MIN_TTL, float(match.group(1)))) if match else DEFAULT_TTL
