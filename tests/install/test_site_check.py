"""install's last check, against Debian's real nginx: is vpsmcp reachable through the site, by name, with TLS?

The failure that made it (issue 15): with the site's port taken by another
program, ``nginx -t`` passes, the reload "succeeds", nginx logs ``bind() …
failed (98: Address already in use)``, and install said done. Here that very
sequence happens for real, and the check must name the program holding the
port and nginx's error line; a wrong certificate name and a stopped vpsmcp
are named too, and the good site passes.
"""

from __future__ import annotations

import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.nginx_support import HOSTNAME, Nginx, TlsFiles, free_port, proxied
from tests.helpers.support import ServerProcess
from vpsmcp.errors import InstallError
from vpsmcp.install.site_check import check_site

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[ServerProcess, Nginx]]:
    with proxied(tmp_path) as (server, nginx):
        yield server, nginx


def url(nginx: Nginx, port: int | None = None) -> str:
    return f"https://{HOSTNAME}:{port or nginx.https_port}/healthz"


def test_the_site_as_installed_reaches_vpsmcp(site: tuple[ServerProcess, Nginx]) -> None:
    _, nginx = site
    check_site(url(nginx), ca_file=str(nginx.ca_path), error_log=nginx.directory / "stderr.log")


def test_a_port_another_program_holds_is_named_with_nginxs_error_line(site: tuple[ServerProcess, Nginx],
                                                                      tmp_path: Path) -> None:
    _, nginx = site
    other = TlsFiles.make(tmp_path / "other", hostname="other.example")
    taken = free_port()
    holder = socket.create_server(("127.0.0.1", taken))  # another program's TLS server on the port
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(other.certificate, other.key)
    stop = threading.Event()

    def serve() -> None:
        holder.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = holder.accept()
            except OSError:
                continue
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        site_file = nginx.directory / "site.conf"
        site_file.write_text(site_file.read_text().replace(f":{nginx.https_port} ssl", f":{taken} ssl"))
        assert nginx.proc is not None
        nginx.proc.send_signal(signal.SIGHUP)  # the reload that "succeeds"
        deadline = time.monotonic() + 10
        while "Address already in use" not in nginx.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(InstallError) as failed:
            check_site(url(nginx, taken), ca_file=str(nginx.ca_path), error_log=nginx.directory / "stderr.log")
        message = str(failed.value)
        assert f"port {taken} is held by python" in message and "not nginx" in message, message
        assert "not accepted for mcp.vpsmcp.test" in message, message
        assert "Address already in use" in message and "bind()" in message, message
    finally:
        stop.set()
        holder.close()


def test_a_certificate_for_another_name_is_named(tmp_path: Path) -> None:
    tls = TlsFiles.make(tmp_path / "tls", hostname="wrong.example")
    nginx = Nginx(tmp_path / "nginx", tls, free_port(), free_port()).start()
    try:
        with pytest.raises(InstallError, match="not accepted for mcp.vpsmcp.test.*Hostname mismatch"):
            check_site(url(nginx), ca_file=str(tls.ca_path), error_log=nginx.directory / "stderr.log")
    finally:
        nginx.stop()


def test_a_stopped_vpsmcp_behind_the_site_is_named(site: tuple[ServerProcess, Nginx]) -> None:
    server, nginx = site
    server.stop()
    with pytest.raises(InstallError, match="answered HTTP 502: nginx cannot reach vpsmcp"):
        check_site(url(nginx), ca_file=str(nginx.ca_path), error_log=nginx.directory / "stderr.log")
