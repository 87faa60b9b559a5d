"""Many short connections: 60 a second for 2 minutes, directly and through nginx (issue 14, item 13).

Clients that open a keep-alive connection, make one request and close it
(health checks, scripts, a proxy without upstream keepalive) left each
descriptor held for hypercorn's keep-alive wait, 75 s as vpsmcp set it: at
60 a second the default limit of 1,024 ran out, requests went unanswered and
the log filled with tracebacks. vpsmcp runs here under that very limit
(``prlimit --nofile=1024``), behind the Debian nginx the shipped site
configures, and every request must be answered while its descriptors stay
well under the limit.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.nginx_support import HOSTNAME, Nginx, TlsFiles, free_port
from tests.helpers.support import ServerProcess, clean_env

pytestmark = pytest.mark.slow

RATE = 60  # new connections a second, on each path
DURATION = float(os.environ.get("VPSMCP_CHURN_SECONDS", "120"))
LIMIT = 1024


def one_request(connect: Callable[[], socket.socket], host: str) -> bytes:
    """A keep-alive GET /healthz on a new connection, which the client then closes (without Connection: close)."""
    with connect() as conn:
        conn.settimeout(10)
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0]


def churn(connect: Callable[[], socket.socket], host: str, results: list[bytes], stop_at: float) -> None:
    """``RATE`` connections a second until ``stop_at``, each on its own short-lived thread."""
    workers: list[threading.Thread] = []

    def attempt() -> None:
        try:
            results.append(one_request(connect, host))
        except OSError as exc:
            results.append(f"{type(exc).__name__}: {exc}".encode())

    tick = time.monotonic()
    while tick < stop_at:
        worker = threading.Thread(target=attempt)
        worker.start()
        workers.append(worker)
        tick += 1 / RATE
        time.sleep(max(0.0, tick - time.monotonic()))
    for worker in workers:
        worker.join(15)


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_sixty_new_connections_a_second_for_two_minutes_directly_and_through_nginx(tmp_path: Path) -> None:
    tls = TlsFiles.make(tmp_path / "tls")
    https_port = free_port()
    argv = ["prlimit", f"--nofile={LIMIT}:{LIMIT}", "--", sys.executable, "-m", "vpsmcp", "serve", "--port", "0",
            "--state-dir", str(tmp_path / "state"), "--public-url", f"https://{HOSTNAME}:{https_port}"]
    server = ServerProcess(argv, env=clean_env(tmp_path), cwd=tmp_path).start()
    assert server.proc is not None
    port = int(server.url.rsplit(":", 1)[1])
    nginx = Nginx(tmp_path / "nginx", tls, https_port, port).start()
    try:
        with open(f"/proc/{server.proc.pid}/limits") as limits:
            assert any(line.startswith("Max open files") and f" {LIMIT} " in line for line in limits)
        direct: list[bytes] = []
        proxied: list[bytes] = []
        stop_at = time.monotonic() + DURATION
        threads = [
            threading.Thread(target=churn, args=(lambda: socket.create_connection(("127.0.0.1", port)),
                                                  f"127.0.0.1:{port}", direct, stop_at)),
            threading.Thread(target=churn, args=(nginx.connect, f"{HOSTNAME}:{https_port}", proxied, stop_at)),
        ]
        for thread in threads:
            thread.start()
        most = 0
        while any(thread.is_alive() for thread in threads):
            most = max(most, descriptors(server.proc.pid))
            time.sleep(1)
        for name, results in (("direct", direct), ("through nginx", proxied)):
            expected = int(DURATION * RATE)
            assert len(results) >= expected * 0.95, f"{name}: only {len(results)} of {expected} attempts"
            failed = [r for r in results if not r.startswith(b"HTTP/1.1 200")]
            assert not failed, f"{name}: {len(failed)} of {len(results)} not answered 200, e.g. {failed[:3]}"
        assert most < LIMIT // 2, f"vpsmcp held {most} descriptors at once (limit {LIMIT})"
        output = server.output()
        assert "Traceback" not in output and "Too many open files" not in output, output[-3000:]
    finally:
        nginx.stop()
        server.stop()
