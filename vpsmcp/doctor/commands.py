"""``vpsmcp doctor [URL]``: check an MCP server the way Claude's connector reaches it.

``--fleet``: on a hub, check each fleet node instead, with the hub's own token
for it (renewed as the server would; never printed), one report per node.
Exit status: 0 every step passed, 3 some warned, 1 some failed (2: a usage error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpsmcp.cli_common import configured, open_state
from vpsmcp.doctor.model import EXIT_STATUS, DoctorError, Status, verdict

DESCRIPTION = """\
Check an MCP server (vpsmcp or any other) the way Claude's connector reaches it:
DNS, TLS, the 401 challenge, the OAuth discovery documents, registration, the
protocol eras, sessions, event-stream delivery and the older transports. Each
failure comes with its cause and its fix. Without URL: server.public_url of the
config file. Exit status: 0 pass, 3 warnings, 1 failures, 2 usage error."""


def add_commands(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check an MCP server the way Claude connects to it", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?", help="the MCP URL, https://host or https://host/mcp")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    p.add_argument("--login", action="store_true",
                   help="log in through a browser (the URL is printed), then list and call a read-only tool")
    p.add_argument("--no-browser", dest="open_browser", action="store_false",
                   help="with --login: only print the URL, open no browser")
    p.add_argument("--token-stdin", action="store_true", help="read a bearer token from the first line of stdin")
    p.add_argument("--tool", metavar="NAME", help="the tool to call (default: one marked readOnlyHint)")
    p.add_argument("--local", action="store_true",
                   help="a development server: private addresses, plain http and other ports are fine")
    p.add_argument("--ca-file", metavar="PATH", help="also trust the CA certificates in this PEM file")
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S", help="limit for each request (10)")
    p.add_argument("--stream-wait", type=_seconds, default=20.0, metavar="S",
                   help="how long to time an event stream (20)")
    p.add_argument("--login-timeout", type=_seconds, default=300.0, metavar="S",
                   help="how long to wait for the browser (300)")
    p.add_argument("--config", type=Path, metavar="PATH", help="config file whose server.public_url to check")
    p.add_argument("--fleet", action="store_true",
                   help="on a hub: check each node of its fleet (vpsmcp fleet) with the hub's own token for it")
    p.add_argument("--state-dir", metavar="DIR", help="with --fleet: the hub's state directory (default: as for serve)")
    p.set_defaults(command=_doctor)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 3600 seconds")
    return value


def _doctor(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.doctor.plan import diagnose  # the steps, only when the doctor runs: --help answers at once
    from vpsmcp.doctor.report import JsonReporter, TextReporter
    from vpsmcp.doctor.run import Options
    from vpsmcp.doctor.target import parse_target

    if args.fleet and (args.url or args.login or args.token_stdin):
        raise DoctorError("--fleet checks the hub's nodes with the hub's tokens: give no URL, --login or --token-stdin")
    target = None if args.fleet else parse_target(args.url or _configured_url(args, env))
    if args.ca_file and not Path(args.ca_file).is_file():
        raise DoctorError(f"--ca-file {args.ca_file}: no such file")
    token = sys.stdin.readline().strip() if args.token_stdin else None
    if args.token_stdin and not token:
        raise DoctorError("--token-stdin: the first line of stdin is empty")
    options = Options(
        timeout=args.timeout, stream_wait=args.stream_wait, local=args.local, ca_file=args.ca_file,
        login=args.login, open_browser=args.open_browser, login_timeout=args.login_timeout,
        token=token, tool=args.tool,
    )
    if target is None:
        return _fleet(args, env, options)
    reporter = JsonReporter(sys.stdout, sys.stderr) if args.json else TextReporter(sys.stdout)
    reporter.begin(target.url)
    checks, clients = diagnose(target, options, reporter)
    reporter.end(checks, clients)
    return EXIT_STATUS[verdict(checks)]


def _fleet(args: argparse.Namespace, env: Mapping[str, str], options: Any) -> int:
    """Each fleet node, checked from the hub with the hub's token: one report each (``--json``: one
    document, ``{"fleet": [...]}``); the exit status is the worst of them."""
    import dataclasses
    import io
    import json

    from vpsmcp.doctor.plan import diagnose
    from vpsmcp.doctor.report import JsonReporter, TextReporter
    from vpsmcp.doctor.target import parse_target
    from vpsmcp.errors import UpstreamError
    from vpsmcp.fleet.credentials import fresh
    from vpsmcp.fleet.nodes import Fleet

    _, state = open_state(args, env)
    fleet = Fleet(state.path)
    nodes = fleet.read()
    if not nodes:
        raise DoctorError(f"no fleet nodes in {state.path} (vpsmcp fleet add NAME https://node/mcp)")
    worst, documents = 0, []
    for name, node in nodes.items():
        if not args.json:
            print(f"\n== fleet node {name}: {node.url}")
        try:
            token = fresh(fleet, name).access_token
        except UpstreamError as exc:
            worst = max(worst, EXIT_STATUS[Status.FAIL], key=_severity)
            documents.append({"node": name, "url": node.url, "verdict": "fail", "error": str(exc)})
            if not args.json:
                print(f"✗ the hub's credential: {exc}")
            continue
        out = io.StringIO()
        reporter = JsonReporter(out, sys.stderr) if args.json else TextReporter(sys.stdout)
        target = parse_target(node.url)
        reporter.begin(target.url)
        checks, clients = diagnose(target, dataclasses.replace(options, token=token), reporter)
        reporter.end(checks, clients)
        worst = max(worst, EXIT_STATUS[verdict(checks)], key=_severity)
        if args.json:
            documents.append({"node": name, **json.loads(out.getvalue())})
    if args.json:
        print(json.dumps({"fleet": documents}, indent=2, ensure_ascii=False))
    return worst


def _severity(status: int) -> int:
    """Exit statuses by how bad: 0 pass, 3 warnings, 1 failures."""
    return {0: 0, 3: 1, 1: 2}[status]


def _configured_url(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    public_url: str = configured(args.config, env)[0].server.public_url
    if not public_url:
        raise DoctorError("name the URL to check (vpsmcp doctor https://host/mcp), or set server.public_url")
    return public_url
