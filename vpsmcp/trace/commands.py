"""``vpsmcp logs``: the connection trace, one block per flow, ending in what the client never tried.

Reads ``trace.jsonl`` (and its rotated files) from the state directory, so it
works while the server runs and after it stopped; ``--follow`` then prints
each new step as the server writes it (about once a second).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from vpsmcp.cli_common import add_instance_flag, add_state_flags, open_state, own_dirs
from vpsmcp.errors import VpsmcpError
from vpsmcp.trace.journal import FILE_NAME
from vpsmcp.trace.reading import History, Tally, follow, read_histories
from vpsmcp.trace.steps import Step
from vpsmcp.trace.verdict import is_doctor, judge

ROUTE_WIDTH = 48


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "logs",
        help="show how clients connected (the connection trace)",
        description="Print the connection flows the server traced: each request of a client's connection "
        "(discovery, registration, authorize, token, MCP calls), what it got, and what the client never tried.",
    )
    add_state_flags(p)
    add_instance_flag(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new steps as they happen")
    p.add_argument("--flow", metavar="ID", help="only the flow with this id (or id prefix)")
    p.add_argument("--client", metavar="ID", help="only the flows of this client id")
    p.add_argument("--last", type=int, default=20, metavar="N", help="the N most recent flows (default 20; 0: all)")
    p.set_defaults(command=_logs)


def _logs(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, state = open_state(args, env)
    traces = [path / FILE_NAME for _, path in own_dirs(state, args.instance, FILE_NAME)]
    path = traces[0] if len(traces) == 1 else state.path
    histories = [h for trace in traces for h in read_histories(trace) if _wanted(h.id, h.client_id, args)]
    if len(traces) > 1:  # several instances: their flows merged, in the order they started
        histories.sort(key=lambda h: h.started)
    if args.last > 0:
        histories = histories[-args.last:]
    if not histories and not args.follow:
        if args.flow or args.client:
            raise VpsmcpError(f"no flow matching {'--flow ' + args.flow if args.flow else '--client ' + args.client} "
                              f"in {path}")
        print(f"no connections traced yet ({path} is empty or missing)")
        return 0
    if histories:
        print("\n\n".join(render_history(h) for h in histories))
    if args.follow:
        if len(traces) > 1:
            raise VpsmcpError(f"--follow reads one trace: name the instance (--instance; here: "
                              f"{', '.join(name or '(unnamed)' for name, _ in own_dirs(state, None, FILE_NAME))})")
        return _follow(traces[0], args)
    return 0


def _follow(path: Any, args: argparse.Namespace) -> int:
    print("-- following; Ctrl-C to stop --", flush=True)
    try:
        for entry in follow(path):
            if "tally" in entry or not _wanted(entry["flow"], entry.get("client"), args):
                continue
            try:
                step = Step.from_json(entry)
            except (KeyError, ValueError, TypeError):
                continue
            origin = f"{entry.get('addr', '')} {entry.get('ua', '')}".strip()
            print(f"{_time(step.t)}  {entry['flow']}  {_step_line(step)}  [{origin}]", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def _wanted(flow_id: str, client_id: Any, args: argparse.Namespace) -> bool:
    if args.flow and not flow_id.startswith(args.flow):
        return False
    return not args.client or client_id == args.client


def render_history(history: History) -> str:
    """A flow as text: a heading, one line per step or tally, and the verdict."""
    doctor = is_doctor(history.user_agent)
    head = [f"flow {history.id}"]
    if history.client_id and not doctor:  # the doctor's client ids are made up on purpose
        head.append(f"client {history.client_id}")
    head += [history.address or "-", history.user_agent or "(no user agent)"]
    if doctor:
        head.append("vpsmcp doctor's probes")
    lines = [" · ".join(head)]
    for entry in history.entries:
        if isinstance(entry, Tally):
            failed = f", {entry.errors} failed" if entry.errors else ""
            lines.append(f"  {_time(entry.t)}  … {entry.more} more request(s){failed} (latest: {entry.last})")
            continue
        line = f"  {_time(entry.t)}  {_step_line(entry)}"
        origin = history.origins.get(entry.t)
        if origin and origin != (history.address, history.user_agent):
            line += f"  [from {origin[0]} {origin[1]}]".rstrip()
        lines.append(line)
    lines.append(f"  ⇒ {judge(history.steps, user_agent=history.user_agent).sentence}")
    return "\n".join(lines)


def _step_line(step: Step) -> str:
    mark = "✗" if step.error else " "
    return f"{step.route:<{ROUTE_WIDTH}} {step.status:>3} {mark} {step.outcome}"


def _time(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))
