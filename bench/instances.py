#!/usr/bin/env python3
"""One vpsmcp instance against two behind the shipped nginx site, on this machine, in one interleaved run.

``python3 bench/instances.py`` starts Debian's nginx twice with the shipped
site (TLS with a self-signed certificate), one in front of a single vpsmcp,
one in front of two named instances sharing a state directory (``serve
--instance``), and drives each with wrk: stateless 2026-07-28 ``tools/call``
(no session, so nginx spreads them round-robin), OAuth on with a real token,
audit and trace on. Nothing is pinned: nginx, wrk and the instances share the
machine's cores, as on a small VPS. It prints req/s, p50 and p99 per setup
and connection count, and two instances' figures as ratios to one's.
Options: ``--rounds`` (default 3), ``--seconds`` per run (default 5), ``--connections`` (default 32,128).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from load import Sample, sample_of
from oauth_login import obtain_token, set_password
from servers import Server, _env, vpsmcp_server
from setup_env import BENCH, ROOT, SetupError, venv_python, wrk_path

LUA = BENCH / "stateless_load.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Front:
    """nginx with the shipped site in front of ``instances``."""

    def __init__(self, name: str, workdir: Path, python: Path, instances: list[Server], port: int) -> None:
        self.name, self.workdir, self.instances, self.port = name, workdir, instances, port
        self.url = f"https://127.0.0.1:{port}/mcp"
        upstreams = tuple(server.url.removesuffix("/mcp").removeprefix("http://") for server in instances)
        render = (
            "import sys\nfrom vpsmcp.install.site import Site\n"
            f"print(Site(public_url='https://127.0.0.1:{port}', upstream={upstreams!r}, "
            f"https_listen=('127.0.0.1:{port}',), http_listen=('127.0.0.1:{free_port()}',), "
            f"certificate='{workdir / 'cert.pem'}', certificate_key='{workdir / 'key.pem'}', "
            f"acme_root='{workdir / 'acme'}', max_body=4194304).render())"
        )
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=127.0.0.1", "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")],
                       check=True, capture_output=True)
        site = subprocess.run([str(python), "-c", render], check=True, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}).stdout
        (workdir / "acme").mkdir()
        (workdir / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {k}_temp_path {workdir / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log stderr error;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    access_log off;\n{temp}\n    include {workdir / 'site.conf'};\n}}\n")
        self.proc = subprocess.Popen([nginx_bin(), "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(workdir / "nginx.log", "wb"))  # noqa: SIM115 -- lives as long as nginx
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(workdir / 'nginx.log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def nginx_bin() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise SetupError("nginx is needed (apt-get install nginx)")
    return found


def wrk_run(wrk: str, url: str, token: str, connections: int, seconds: float) -> Sample:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency", "-s", str(LUA), url,
            "--", token]
    return sample_of(subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=seconds + 60))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", default="32,128")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    try:
        python, wrk = venv_python(), wrk_path()
        nginx_bin()
    except SetupError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    servers: list[Server] = []
    fronts: list[Front] = []
    with tempfile.TemporaryDirectory(prefix="vpsmcp-instances-bench-") as tmp:
        try:
            for setup, names in (("1 instance", [""]), ("2 instances", ["a", "b"])):
                state = Path(tmp) / setup.replace(" ", "-")
                state.mkdir()
                set_password(python, state / "state", _env(state, ROOT), state)  # the one the instances share
                port = free_port()
                group = []
                for name in names:
                    workdir = state / (name or "only")
                    workdir.mkdir()
                    server = vpsmcp_server(python, workdir, None, sessions=1000)
                    server.argv[server.argv.index("--state-dir") + 1] = str(state / "state")
                    server.argv += ["--public-url", f"https://127.0.0.1:{port}"] + (["--instance", name] if name else [])
                    server.start()
                    group.append(server)
                    servers.append(server)
                front_dir = state / "nginx"
                front_dir.mkdir()
                fronts.append(Front(setup, front_dir, python, group, port))
                print(f"bench: {setup}: nginx at {fronts[-1].url}", file=sys.stderr)
            tokens = {f.name: obtain_token(f.instances[0].url.removesuffix("/mcp")) for f in fronts}
            samples: dict[tuple[str, int], list[Sample]] = {}
            for n in range(args.rounds):
                for front in fronts[n % 2:] + fronts[: n % 2]:
                    for conns in connections:
                        sample = wrk_run(wrk, front.url, tokens[front.name], conns, args.seconds)
                        if sample.errors:
                            raise RuntimeError(f"{front.name} c={conns}: {sample.errors} errors")
                        samples.setdefault((front.name, conns), []).append(sample)
                print(f"bench: round {n + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for front in fronts:
                front.stop()
            for server in servers:
                server.stop()
    cores = len(os.sched_getaffinity(0))
    print(f"\nstateless tools/call through nginx + TLS, {cores} cores shared by nginx, wrk and vpsmcp; "
          f"medians of {args.rounds} rounds x {args.seconds:g} s\n")
    print("| connections | setup | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for conns in connections:
        for front in fronts:
            runs = samples[(front.name, conns)]
            print(f"| {conns} | {front.name} | {statistics.median(s.rps for s in runs):,.0f} | "
                  f"{statistics.median(s.p50_ms for s in runs):.2f} | {statistics.median(s.p99_ms for s in runs):.2f} |")
        one, two = (statistics.median(s.rps for s in samples[(f.name, conns)]) for f in fronts)
        print(f"| {conns} | 2 / 1 | {two / one:.2f}x | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
