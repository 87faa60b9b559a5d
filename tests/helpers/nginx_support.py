"""A real nginx with TLS in front of a real vpsmcp, for tests.

``proxied(tmp, ...)`` starts a vpsmcp (port 0) whose public URL is
``https://mcp.vpsmcp.test:PORT``, then nginx as a non-daemon child with a
generated ``nginx.conf`` that includes the shipped site
(``systemd/nginx-vpsmcp.conf``) rendered by the same code ``vpsmcp install``
uses: only names, paths, ports and (when a test asks) the two proxy
timeouts differ. The certificate comes from a test CA made with
``openssl`` for this run.

The test hostname: ``mcp.vpsmcp.test`` (``.test`` is reserved, RFC 6761, so
it never resolves anywhere by accident). Nothing edits ``/etc/hosts``:
``resolving(hostname)`` makes this process's resolver answer 127.0.0.1 for
that one name by wrapping ``socket.getaddrinfo``, which every client here
reaches it through (httpx, httpx2 under the MCP SDK, anyio, plain sockets).
TLS is checked for real: SNI and the certificate's name are the test
hostname, trusted through ``ca_path`` only. Programs run as child processes
do not see the wrapper; give them ``address`` and the hostname separately.

For tests of a misconfigured proxy, ``edit`` changes the rendered site:
``buffering`` turns nginx into one that holds event streams back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from tests.helpers.support import ServerProcess, serve_from_checkout
from vpsmcp.config.sections import Config
from vpsmcp.install.site import Site

HOSTNAME = "mcp.vpsmcp.test"
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0


def nginx_bin() -> str:
    """nginx as tests/run.sh installs it (Debian's package); a missing one fails the test."""
    for candidate in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("nginx is not installed: apt-get install nginx (tests/run.sh does)")


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)} failed:\n{done.stderr}"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A CA made for one run and a server certificate it signed for ``hostname``."""

    ca_path: Path
    certificate: Path
    key: Path

    @classmethod
    def make(cls, directory: Path, hostname: str = HOSTNAME) -> TlsFiles:
        directory.mkdir(parents=True, exist_ok=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vpsmcp test CA",
                "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={hostname}",
                "-keyout", "server.key", "-out", "server.csr", cwd=directory)
        (directory / "server.ext").write_text(
            f"subjectAltName=DNS:{hostname}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        )
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "server.ext", "-out", "server.pem", cwd=directory)
        return cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def resolving(hostname: str = HOSTNAME, address: str = LOOPBACK) -> Iterator[None]:
    """While open, this process resolves ``hostname`` (and only it) to ``address``."""
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        return original(address if name == hostname else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


def buffering(site: str) -> str:
    """A site whose nginx buffers responses, ignoring vpsmcp's X-Accel-Buffering: no (a bad proxy)."""
    assert site.count("proxy_buffering off;") == 1
    return site.replace(
        "proxy_buffering off;",
        "proxy_buffering on;\n        proxy_ignore_headers X-Accel-Buffering;\n"
        "        proxy_buffer_size 16k;\n        proxy_buffers 4 16k;",
    )


@dataclass
class Nginx:
    """nginx in front of ``upstream_port``, serving the shipped site at ``base_url``."""

    directory: Path
    tls: TlsFiles
    https_port: int
    upstream_port: int
    read_timeout: str = "3600s"
    send_timeout: str = "3600s"
    edit: Callable[[str], str] | None = None
    more_upstreams: tuple[int, ...] = ()  # further instances, behind the one site
    hostname: str = HOSTNAME
    address: str = LOOPBACK
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    http_port: int = field(default_factory=free_port, init=False)

    @property
    def base_url(self) -> str:
        return f"https://{self.hostname}:{self.https_port}"

    @property
    def ca_path(self) -> Path:
        return self.tls.ca_path

    def site(self) -> str:
        """The shipped site, rendered for this test (and edited, if asked)."""
        site = Site(
            public_url=self.base_url,
            upstream=tuple(f"{LOOPBACK}:{port}" for port in (self.upstream_port, *self.more_upstreams)),
            https_listen=(f"{self.address}:{self.https_port}",),
            http_listen=(f"{self.address}:{self.http_port}",),
            certificate=str(self.tls.certificate),
            certificate_key=str(self.tls.key),
            acme_root=str(self.directory / "acme"),
            max_body=Config().mcp.max_body_bytes,
            read_timeout=self.read_timeout,
            send_timeout=self.send_timeout,
        ).render()
        return self.edit(site) if self.edit else site

    def start(self) -> Nginx:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "acme").mkdir(exist_ok=True)
        (self.directory / "site.conf").write_text(self.site())
        (self.directory / "nginx.conf").write_text(self._main_conf())
        with open(self.directory / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [nginx_bin(), "-p", str(self.directory), "-c", str(self.directory / "nginx.conf"), "-e", "stderr"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection((self.address, self.https_port), timeout=1):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _main_conf(self) -> str:
        d = self.directory
        temp = "\n".join(f"    {kind}_temp_path {d / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 directories.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {d / 'nginx.pid'};\nerror_log stderr info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    access_log {d / 'access.log'};\n{temp}\n    include {d / 'site.conf'};\n}}\n"
        )

    def log(self) -> str:
        return (self.directory / "stderr.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the test CA and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for ``base_url`` that trusts the test CA (use inside ``resolving()``)."""
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), **kwargs)

    def sdk_http_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """An httpx2 client (what the official MCP SDK takes as ``http_client``) trusting the test CA."""
        return httpx2.AsyncClient(verify=self.ssl_context(), **kwargs)

    def connect(self) -> ssl.SSLSocket:
        """A TLS connection to nginx, with the test hostname as SNI and checked against the certificate."""
        raw = socket.create_connection((self.address, self.https_port), timeout=10)
        return self.ssl_context().wrap_socket(raw, server_hostname=self.hostname)


@contextlib.contextmanager
def proxied(
    tmp: Path,
    *serve_args: str,
    read_timeout: str = "3600s",
    send_timeout: str = "3600s",
    edit: Callable[[str], str] | None = None,
) -> Iterator[tuple[ServerProcess, Nginx]]:
    """A vpsmcp behind nginx; while open, the test hostname resolves to loopback in this process."""
    tls = TlsFiles.make(tmp / "tls")
    https_port = free_port()
    public_url = f"https://{HOSTNAME}:{https_port}"
    server = serve_from_checkout(tmp, "--public-url", public_url, *serve_args).start()
    nginx = Nginx(tmp / "nginx", tls, https_port, int(server.url.rsplit(":", 1)[1]),
                  read_timeout=read_timeout, send_timeout=send_timeout, edit=edit)
    try:
        nginx.start()
        with resolving():
            yield server, nginx
    finally:
        nginx.stop()
        server.stop()
