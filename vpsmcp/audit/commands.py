"""``vpsmcp audit``: show the newest records of the audit log; ``--verify`` checks its chain."""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Mapping
from typing import Any

from vpsmcp.cli_common import add_state_flags, open_state


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "audit",
        help="show or verify the audit log",
        description="Show the newest tool calls in the audit log, or verify its hash chain (--verify).",
    )
    add_state_flags(p)
    p.add_argument("--verify", action="store_true", help="check the chain and its head; exit status 1 on a problem")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many records to show (default 20)")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")
    p.set_defaults(command=_audit)


def _audit(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.audit.verify import records  # the log's code only for the command that reads it

    _, state = open_state(args, env)
    if args.verify:
        return _verify(state.path)
    newest = collections.deque(records(state.path), maxlen=max(args.lines, 0))
    if not newest and not args.json:
        print(f"no audit records yet in {state.path} (each tool call is recorded when it is made)", file=sys.stderr)
    for record in newest:
        print(json.dumps(record, ensure_ascii=False) if args.json else _line(record))
    return 0


def _verify(directory: Any) -> int:
    from vpsmcp.audit.verify import verify

    verdict = verify(directory)
    if verdict.ok:
        if verdict.records == 0:
            print("audit log ok: no records yet")
        else:
            print(f"audit log ok: {verdict.records} records, #{verdict.first_seq} to #{verdict.last_seq}; "
                  f"newest hash {verdict.last_hash}")
        return 0
    print(f"audit log NOT intact ({verdict.records} records read):")
    for problem in verdict.problems:
        print(f"  - {problem}")
    return 1


def _line(record: dict[str, Any]) -> str:
    who = f"client={record.get('client') or '-'} token={record.get('token') or '-'}"
    arguments = json.dumps(record.get("arguments"), ensure_ascii=False, separators=(",", ":"))
    error = f"  error: {record['error']}" if record.get("error") else ""
    return (f"{record.get('time', '?')}  #{record.get('seq', '?')}  {record.get('tool', '?')}  {record.get('status', '?')}"
            f"  {record.get('duration_ms', '?')} ms  {who}  {arguments}{error}")
