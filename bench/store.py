#!/usr/bin/env python3
"""What a big OAuth store costs: each backend empty and holding 100,000 tokens, in one interleaved run.

``python3 bench/store.py`` starts six vpsmcp servers from this checkout, with
OAuth on: ``sqlite``, ``files`` and ``redis`` (Debian's redis-server, started
here on a loopback port with ``appendfsync everysec``), each once on an empty
store and once on a store filled (``store_fill.py``) with 10,000 registrations
and 50,000 grants (100,000 live tokens). Against each, in rounds with the order rotating, it
measures one client at a time over a kept-alive connection:

- bearer: a stateless ``tools/call`` with a valid token (the bearer check on every request);
- refresh: ``grant_type=refresh_token`` with rotation (a write of one grant);
- exchange: the code exchange at the end of a whole login (a new grant written);
- register: ``POST /register`` (a new client written, the unused-registration caps checked).

It prints the median and p90 of each, in milliseconds, and each filled store's
median as a ratio to the same backend empty: 1.0 is "costs nothing to be big".
Options: ``--rounds`` (default 3), ``--grants``, ``--clients``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from oauth_login import obtain_grant
from servers import Server, _env, vpsmcp_server
from setup_env import ROOT, SetupError, venv_python

BENCH = Path(__file__).resolve().parent
CALL = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "echo", "arguments": {"text": "hi"},
    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
              "io.modelcontextprotocol/clientCapabilities": {}}}})
OPS = ("bearer", "refresh", "exchange", "register")
BACKENDS = ("sqlite", "files", "redis")
PER_ROUND = {"bearer": 300, "refresh": 40, "exchange": 5, "register": 20}
# a filled file store takes seconds per write (it rewrites everything): fewer of them
PER_ROUND_FILES_FILLED = {"bearer": 100, "refresh": 4, "exchange": 1, "register": 2}


class Target:
    """One server and the grant the bench keeps refreshing."""

    def __init__(self, name: str, server: Server) -> None:
        self.name = name
        self.server = server
        self.base = server.url.removesuffix("/mcp")
        parts = urlsplit(self.base)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self.client, self.token, _ = obtain_grant(self.base)
        self.times: dict[str, list[float]] = {op: [] for op in OPS}

    def request(self, method: str, path: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
        """One request on the kept-alive connection; one the server closed meanwhile (its keep-alive
        timeout passed during a slow step) is opened again, and the retry is what is timed."""
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body, headers)
                response = self.conn.getresponse()
                text = response.read().decode()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt == 2:
                    raise
                continue
            self.last = time.perf_counter() - started
            return response.status, text
        raise AssertionError("unreachable")

    def bearer(self) -> None:
        status, text = self.request("POST", "/mcp", CALL, {
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo",
            "Authorization": f"Bearer {self.token['access_token']}"})
        _expect(status == 200 and '"hi"' in text, self, "tools/call", status, text)
        self.times["bearer"].append(self.last)

    def refresh(self) -> None:
        form = urlencode({"grant_type": "refresh_token", "refresh_token": self.token["refresh_token"],
                          "client_id": self.client["client_id"], "client_secret": self.client["client_secret"]})
        status, text = self.request("POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
        _expect(status == 200, self, "refresh", status, text)
        self.token = json.loads(text)
        self.times["refresh"].append(self.last)

    def exchange(self) -> None:
        self.times["exchange"].append(obtain_grant(self.base)[2])

    def register(self) -> None:
        status, text = self.request("POST", "/register", json.dumps({"redirect_uris": ["http://127.0.0.1:9/r"]}),
                                    {"Content-Type": "application/json"})
        _expect(status == 201, self, "register", status, text)
        self.times["register"].append(self.last)


def _expect(ok: bool, target: Target, what: str, status: int, text: str) -> None:
    if not ok:
        raise RuntimeError(f"{target.name}: {what}: HTTP {status}: {text[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--grants", type=int, default=50_000)
    args = parser.parse_args(argv)
    try:
        python = venv_python()
    except SetupError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("bench: error: redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vpsmcp-store-bench-") as tmp:
        targets: list[Target] = []
        redis_server, redis_url = _redis_server(Path(tmp) / "redis")
        try:
            for backend in BACKENDS:
                for filled in (False, True):
                    name = f"{backend} {'100k tokens' if filled else 'empty'}"
                    targets.append(_start(python, Path(tmp) / name.replace(" ", "-"), backend, filled, args, name,
                                          redis_url))
            for n in range(args.rounds):
                for target in targets[n % len(targets):] + targets[: n % len(targets)]:
                    counts = PER_ROUND_FILES_FILLED if target.name == "files 100k tokens" else PER_ROUND
                    for op in OPS:
                        for _ in range(counts[op]):
                            getattr(target, op)()
        finally:
            for target in targets:
                target.server.stop()
            redis_server.terminate()
            redis_server.wait(10)
    _report(targets, args)
    return 0


def _redis_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Debian's redis-server on a free loopback port, persisting as a production one would (everysec)."""
    workdir.mkdir(parents=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                                "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


def _start(python: Path, workdir: Path, backend: str, filled: bool, args: argparse.Namespace, name: str,
           redis_url: str) -> Target:
    workdir.mkdir(parents=True)
    server = vpsmcp_server(python, workdir, None)
    config = Path(server.argv[server.argv.index("--config") + 1])
    prefix = f"bench-{'filled' if filled else 'empty'}"
    store = f'url = "{redis_url}"\nprefix = "{prefix}"\n' if backend == "redis" else ""
    config.write_text(config.read_text() + f'\n[store]\nbackend = "{backend}"\n{store}\n[auth]\n'
                      "registrations_per_address = 1000000\nregistrations_overall = 1000000\n"
                      "max_unused_registrations = 1000000\n")
    if filled:
        started = time.perf_counter()
        where = f"{redis_url}#{prefix}" if backend == "redis" else str(workdir / "state")
        subprocess.run([str(python), str(BENCH / "store_fill.py"), backend, where, str(args.clients),
                        str(args.grants), "http://127.0.0.1:9/mcp"], check=True, env=_env(workdir, ROOT))
        print(f"bench: {name}: filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    server.start(timeout=120)
    print(f"bench: {name}: pid {server.pid} at {server.url}", file=sys.stderr)
    return Target(name, server)


def _report(targets: list[Target], args: argparse.Namespace) -> None:
    print(f"\nOAuth store, one client at a time; milliseconds, median / p90 ({args.rounds} rounds; filled: "
          f"{args.clients:,} registrations, {args.grants:,} grants = {2 * args.grants:,} tokens)\n")
    print(f"| store | {' | '.join(OPS)} |")
    print(f"|---|{'---|' * len(OPS)}")
    for target in targets:
        print(f"| {target.name} | " + " | ".join(_cell(target.times[op]) for op in OPS) + " |")
    print("\nfilled / empty, medians (1.0: a big store costs nothing)\n")
    print(f"| backend | {' | '.join(OPS)} |")
    print(f"|---|{'---|' * len(OPS)}")
    by_name = {t.name: t for t in targets}
    for backend in BACKENDS:
        empty, full = by_name[f"{backend} empty"], by_name[f"{backend} 100k tokens"]
        ratios = [statistics.median(full.times[op]) / statistics.median(empty.times[op]) for op in OPS]
        print(f"| {backend} | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")


def _cell(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered) * 1000:.2f} / {p90 * 1000:.2f}"


if __name__ == "__main__":
    sys.exit(main())
