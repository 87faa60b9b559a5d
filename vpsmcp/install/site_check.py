"""Whether the public site reaches vpsmcp, checked the way a client will see it.

``nginx -t`` and a reload that "succeeds" prove little: with port 443 taken
by another program nginx logs ``bind() … failed (98: Address already in
use)`` and keeps serving without the site. So after the reload, install asks
the local nginx for ``https://HOST/healthz`` — connecting to 127.0.0.1 on
the site's port with HOST as the TLS server name, the certificate checked as
a client checks it — and wants vpsmcp's own answer. When it does not get it,
the error says why in words: what holds the port, which certificate name did
not match, what nginx answered, and the newest line of nginx's error log.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from vpsmcp.errors import InstallError

NGINX_ERROR_LOG = Path("/var/log/nginx/error.log")
TIMEOUT = 10.0
_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp
_CAUSE = re.compile(r"\(\d+: [^)]+\)")  # an errno and its words, as nginx logs them


def check_site(url: str, address: str = "127.0.0.1", ca_file: str | None = None,
               error_log: Path = NGINX_ERROR_LOG) -> None:
    """Raise ``InstallError`` saying why, unless ``url`` (``https://HOST[:PORT]/healthz``, or http for a
    site that serves only certbot's challenges) fetched through ``address`` is vpsmcp's answer."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        status, body = _get(parts.scheme, host, port, address, parts.path or "/", ca_file)
    except ssl.SSLCertVerificationError as exc:
        raise InstallError(f"{url}: the certificate served on port {port} is not accepted for {host} "
                           f"({exc.verify_message}){_held_by(port)}{_logged(error_log)}") from None
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
        if isinstance(exc, ConnectionRefusedError):
            raise InstallError(f"{url}: nothing listens on port {port} of {address}: nginx did not take it"
                               f"{_logged(error_log)}") from None
        raise InstallError(f"{url}: no answer through port {port} ({type(exc).__name__}: {exc})"
                           f"{_held_by(port)}{_logged(error_log)}") from None
    if status != 200 or not _is_vpsmcp(body):
        what = {502: "nginx cannot reach vpsmcp behind it (is vpsmcp.service running?)",
                404: "this is not the vpsmcp site (another server block answers for the name)"}.get(
            status, "not vpsmcp's answer")
        raise InstallError(f"{url}: answered HTTP {status}: {what}{_held_by(port)}{_logged(error_log)}")


def _get(scheme: str, host: str, port: int, address: str, path: str, ca_file: str | None) -> tuple[int, bytes]:
    raw = socket.create_connection((address, port), timeout=TIMEOUT)
    conn: socket.socket = raw
    try:
        if scheme == "https":
            conn = ssl.create_default_context(cafile=ca_file).wrap_socket(raw, server_hostname=host)
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vpsmcp-install\r\n"
                     "Connection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
            if len(answer) > 1 << 20:
                break
    finally:
        conn.close()
        raw.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {head[:80]!r}")
    return int(fields[1]), body


def _is_vpsmcp(body: bytes) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("status") == "ok" and "version" in answer


def _held_by(port: int) -> str:
    """``; port 443 is held by apache2 (pid 812)`` when a program other than nginx holds it."""
    holders = listeners(port)
    others = [h for h in holders if not h.startswith("nginx")]
    return f"; port {port} is held by {', '.join(others)}, not nginx" if others else ""


def _logged(error_log: Path) -> str:
    """The newest line of nginx's error log that says something went wrong, if there is one."""
    try:
        with open(error_log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    bad = [line for line in lines if any(level in line for level in ("[emerg]", "[alert]", "[crit]", "[error]"))]
    # The newest line with a cause ("bind() to 0.0.0.0:443 failed (98: Address already in use)") says more
    # than the "still could not bind()" that follows it.
    caused = [line for line in bad if _CAUSE.search(line)]
    chosen = caused or bad
    return f"; nginx's error log says: {chosen[-1].strip()}" if chosen else ""


def listeners(port: int) -> list[str]:
    """The programs listening on TCP ``port`` (``name (pid N)``), from /proc (no ss or lsof needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()) if wanted else ():
        if wanted & _links(f"/proc/{pid}/fd"):
            try:
                found.append(f"{Path(f'/proc/{pid}/comm').read_text().strip()} (pid {pid})")
            except OSError:
                continue
    return found


def _links(directory: str) -> set[str]:
    """What the descriptors in ``directory`` point at (one closing meanwhile is skipped, not the rest)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    links = set()
    for name in names:
        try:
            links.add(os.readlink(f"{directory}/{name}"))
        except OSError:
            continue
    return links
