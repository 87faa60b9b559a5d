#!/usr/bin/env python3
"""Benchmark the gateway: tools/call to a stdio server, direct and through vpsmcp, supergateway and mcp-proxy.

One command, ``python3 bench/gateway.py``: installs what it needs (the bench
venv, wrk, the npm packages into .cache/bench-npm, mcp-proxy into its own
venv), starts the three gateways in front of the same stdio server
(``@modelcontextprotocol/server-everything``, its ``echo`` tool), and measures
them and the server called directly, interleaved round by round. Each
gateway, with its upstream processes, is pinned to one core; wrk and the
direct client to the other. See bench/README.md, "Gateway".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gateway_direct import StdioClient, measure
from load import Sample
from servers import open_session, post, reply
from setup_env import BENCH, CACHE, ROOT, SetupError, venv_python, wrk_path

NPM_DIR = CACHE / "bench-npm"
NPM_PACKAGES = ("supergateway@4.0.0", "@modelcontextprotocol/server-everything@2026.8.31")
PROXY_VENV = CACHE / "bench-mcp-proxy-venv"
PROXY_PIN = "mcp-proxy==0.13.0"
PARAMS = {"name": "echo", "arguments": {"message": "hello from wrk"}}
EXPECTED = "Echo: hello from wrk"
LUA = BENCH / "gateway_load.lua"
NAMES = ("direct", "vpsmcp", "vpsmcp-noaudit", "supergateway", "mcp-proxy")


@dataclass
class Gateway:
    """A gateway process in front of the stdio server, and the sessions opened on it."""

    name: str
    argv: list[str]
    port: int
    workdir: Path
    env: dict[str, str]
    cpu: int | None
    proc: subprocess.Popen[bytes] | None = None
    sessions: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self, sessions: int, timeout: float = 60.0) -> None:
        cpu = self.cpu
        with open(self.workdir / f"{self.name}.log", "wb") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                env=self.env, start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
            )
        deadline = time.monotonic() + timeout
        while not self.sessions:
            try:
                self.sessions.append(open_session(self.url))
            except (OSError, RuntimeError) as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    log = (self.workdir / f"{self.name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{self.name} did not start ({exc}):\n{log}") from None
                time.sleep(0.2)
        self.sessions += [open_session(self.url) for _ in range(sessions - 1)]
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": PARAMS}
        status, headers, body = post(self.url, call, self.sessions[0])
        result = reply(headers.get("content-type", ""), body).get("result", {}) if status == 200 else {}
        if [c.get("text") for c in result.get("content", [])] != [EXPECTED]:
            raise RuntimeError(f"{self.name}: tools/call echo answered HTTP {status}: {body[:300]}")

    def stop(self) -> None:
        """SIGTERM this gateway's process group (it and the upstreams it started), by its pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        python, wrk, node = venv_python(), wrk_path(), _node()
        supergateway, mcp_proxy, everything = _peers(node)
    except SetupError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    if load_cpu is not None:
        os.sched_setaffinity(0, {load_cpu})
    upstream = [str(node), str(everything), "stdio"]
    with tempfile.TemporaryDirectory(prefix="vpsmcp-bench-gw-") as tmp:
        gateways = _gateways(Path(tmp), python, upstream, supergateway, mcp_proxy, server_cpu)
        try:
            for gateway in gateways:
                gateway.start(max(args.connections))
                print(f"bench: {gateway.name} pid {gateway.proc.pid if gateway.proc else '?'} at {gateway.url}", file=sys.stderr)
            samples = asyncio.run(_measure(gateways, upstream, wrk, args, server_cpu, load_cpu))
        except RuntimeError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 1
        finally:
            for gateway in gateways:
                gateway.stop()
    _print(samples, args)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians (3)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of one run (3)")
    p.add_argument("--connections", type=lambda t: tuple(sorted(int(c) for c in t.split(","))), default=(1, 32))
    return p


def _node() -> Path:
    """Node.js 22 as tests/run.sh installs it, else the node on PATH."""
    found = sorted((CACHE / "conformance").glob("node/node_modules/node-linux-*/bin/node"))
    if found:
        return found[0]
    on_path = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    if not on_path:
        raise SetupError("Node.js is needed (run tests/run.sh, which installs Node.js 22, or apt-get install nodejs)")
    return Path(on_path)


def _peers(node: Path) -> tuple[Path, Path, Path]:
    """supergateway, mcp-proxy and server-everything, installed pinned when missing."""
    bins = NPM_DIR / "node_modules" / ".bin"
    everything = NPM_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
    if not (bins / "supergateway").exists() or not everything.exists():
        _run(["npm", "install", "--prefix", str(NPM_DIR), "--save-exact", "--no-audit", "--no-fund",
              "--loglevel=error", *NPM_PACKAGES], "install " + " ".join(NPM_PACKAGES))
    proxy = PROXY_VENV / "bin" / "mcp-proxy"
    if not proxy.exists():
        _run([sys.executable, "-m", "venv", str(PROXY_VENV)], "create the mcp-proxy venv")
        _run([str(PROXY_VENV / "bin" / "python"), "-m", "pip", "install", "-q", PROXY_PIN], f"install {PROXY_PIN}")
    return bins / "supergateway", proxy, everything


def _run(argv: list[str], what: str) -> None:
    print(f"bench: {what} ...", file=sys.stderr, flush=True)
    if subprocess.run(argv, stdout=sys.stderr).returncode != 0:
        raise SetupError(f"could not {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gateways(tmp: Path, python: Path, upstream: list[str], supergateway: Path, mcp_proxy: Path,
              cpu: int | None) -> list[Gateway]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    env.update(HOME=str(tmp), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = f"{Path(upstream[0]).parent}{os.pathsep}{env.get('PATH', '')}"  # supergateway's `node`
    config = tmp / "vpsmcp.toml"
    config.write_text("[log]\naccess = false\n\n[upstreams.ev]\nargv = " + json.dumps(upstream)
                      + '\nprefix = ""\nstart = "boot"\n')
    port = {name: _free_port() for name in NAMES[1:]}
    serve = ["serve", "--no-auth", "--config", str(config), "--state-dir"]
    made = {
        "vpsmcp": [str(python), "-m", "vpsmcp", *serve, str(tmp / "state"), "--port", str(port["vpsmcp"])],
        "vpsmcp-noaudit": [str(python), str(BENCH / "vpsmcp_without_audit.py"), *serve, str(tmp / "state2"),
                           "--port", str(port["vpsmcp-noaudit"])],
        "supergateway": [str(upstream[0]), str(supergateway), "--stdio", " ".join(upstream), "--outputTransport",
                         "streamableHttp", "--stateful", "--port", str(port["supergateway"]), "--logLevel", "none"],
        "mcp-proxy": [str(mcp_proxy), "--host", "127.0.0.1", "--port", str(port["mcp-proxy"]), "--log-level", "WARNING",
                      "--", *upstream],
    }
    for name in made:
        (tmp / name).mkdir()
    return [Gateway(name, argv, port[name], tmp / name, env, cpu) for name, argv in made.items()]


def _wrk(wrk: str, gateway: Gateway, conns: int, seconds: float, id_base: int, cpu: int | None) -> Sample:
    argv = [wrk, "-t1", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "10s", "--latency", "-s", str(LUA),
            gateway.url, "--", json.dumps(PARAMS), ",".join(gateway.sessions[:conns]), str(id_base)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
    line = next((t for t in done.stdout.splitlines() if t.startswith("BENCH-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk against {gateway.name} failed:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Sample(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3, errors)


Samples = dict[tuple[str, int], list[Sample]]


async def _measure(gateways: list[Gateway], upstream: list[str], wrk: str, args: argparse.Namespace,
                   server_cpu: int | None, load_cpu: int | None) -> Samples:
    samples: Samples = {(name, c): [] for name in NAMES for c in args.connections}
    ids = iter(range(1, 10**6))
    async with StdioClient(upstream, server_cpu) as direct:

        async def one(name: str, conns: int, seconds: float) -> Sample:
            if name == "direct":
                return await measure(direct, PARAMS, conns, seconds)
            gateway = next(g for g in gateways if g.name == name)
            return await asyncio.to_thread(_wrk, wrk, gateway, conns, seconds, next(ids) * 10**7, load_cpu)

        for name in NAMES:  # warm-up: lazy imports, JIT, caches
            await one(name, 32, 1.0)
        for round_no in range(args.rounds):
            order = NAMES[round_no % len(NAMES):] + NAMES[: round_no % len(NAMES)]
            for conns in args.connections:
                for name in order:
                    samples[(name, conns)].append(await one(name, conns, args.seconds))
            print(f"bench: round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    return samples


def _print(samples: Samples, args: argparse.Namespace) -> None:
    def med(name: str, conns: int, metric: str) -> float:
        return float(statistics.median(getattr(s, metric) for s in samples[(name, conns)]))

    labels = {"direct": "direct (stdio)", "vpsmcp": "vpsmcp", "vpsmcp-noaudit": "vpsmcp, audit off",
              "supergateway": "supergateway 4.0.0", "mcp-proxy": "mcp-proxy 0.13.0"}
    print(f"\ntools/call of server-everything's echo over stdio: {args.rounds} rounds x {args.seconds:g}s, medians")
    head = f"{'':20}" + "".join(f"{f'c={c} p50 ms':>13}{f'c={c} p99 ms':>13}{f'c={c} req/s':>13}" for c in args.connections)
    print(head + f"{'errors':>8}")
    for name in NAMES:
        row = "".join(f"{med(name, c, 'p50_ms'):13.2f}{med(name, c, 'p99_ms'):13.2f}{med(name, c, 'rps'):13,.0f}"
                      for c in args.connections)
        errors = sum(s.errors for c in args.connections for s in samples[(name, c)])
        print(f"{labels[name]:20}{row}{errors:8d}")
    low, high = min(args.connections), max(args.connections)
    print("\nTargets (issue):")
    for ours in ("vpsmcp", "vpsmcp-noaudit"):
        added = med(ours, low, "p50_ms") - med("direct", low, "p50_ms")
        print(f"  {labels[ours]}: added p50 at c={low}: {added:.2f} ms (≤ 1 ms): {'PASS' if added <= 1.0 else 'MISS'}")
        for peer in ("supergateway", "mcp-proxy"):
            ratio = med(ours, high, "rps") / max(med(peer, high, "rps"), 1e-9)
            print(f"  {labels[ours]}: c={high} throughput vs {peer}: {ratio:.1f}x (≥ 2x): {'PASS' if ratio >= 2 else 'MISS'}")
    out = CACHE / "bench" / "gateway-last-run.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({f"{n}/{c}": [asdict(s) for s in runs] for (n, c), runs in samples.items()}, indent=1))
    print(f"\nevery run's figures: {out}")


if __name__ == "__main__":
    sys.exit(main())
