"""``vpsmcp audit``: show the newest records of the audit log; ``--verify`` checks its chain.

Several instances sharing a state directory each keep a chain of their own
(``STATE_DIR/instances/NAME``): the records are shown merged by time, and
``--verify`` checks every chain (or the one ``--instance`` names).
"""

from __future__ import annotations

import argparse
import collections
import heapq
import json
import sys
from collections.abc import Mapping
from typing import Any

from vpsmcp.cli_common import add_instance_flag, add_state_flags, open_state, own_dirs


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "audit",
        help="show or verify the audit log",
        description="Show the newest tool calls in the audit log, or verify its hash chain (--verify).",
    )
    add_state_flags(p)
    add_instance_flag(p)
    p.add_argument("--verify", action="store_true", help="check the chain and its head; exit status 1 on a problem")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many records to show (default 20)")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")
    p.set_defaults(command=_audit)


def _audit(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from vpsmcp.audit.log import LOG_NAME
    from vpsmcp.audit.verify import records  # the log's code only for the command that reads it

    _, state = open_state(args, env)
    chains = own_dirs(state, args.instance, LOG_NAME)
    if args.verify:
        return max(_verify(path, name, several=len(chains) > 1) for name, path in chains)
    merged = heapq.merge(*(records(path) for _, path in chains), key=lambda r: str(r.get("time", "")))
    newest = collections.deque(merged, maxlen=max(args.lines, 0))
    if not newest and not args.json:
        where = ", ".join(str(path) for _, path in chains)
        print(f"no audit records yet in {where} (each tool call is recorded when it is made)", file=sys.stderr)
    for record in newest:
        print(json.dumps(record, ensure_ascii=False) if args.json else _line(record))
    return 0


def _verify(directory: Any, instance: str, several: bool) -> int:
    from vpsmcp.audit.verify import verify

    verdict = verify(directory)
    name = f"audit log of instance {instance}" if instance else "audit log of the unnamed instance" if several \
        else "audit log"
    if verdict.ok:
        if verdict.records == 0:
            print(f"{name} ok: no records yet")
        else:
            print(f"{name} ok: {verdict.records} records, #{verdict.first_seq} to #{verdict.last_seq}; "
                  f"newest hash {verdict.last_hash}")
        return 0
    print(f"{name} NOT intact ({verdict.records} records read):")
    for problem in verdict.problems:
        print(f"  - {problem}")
    return 1


def _line(record: dict[str, Any]) -> str:
    who = f"client={record.get('client') or '-'} token={record.get('token') or '-'}"
    if record.get("instance"):
        who += f" instance={record['instance']}"
    if record.get("node"):
        who += f" node={record['node']}"
    if record.get("on_behalf_of"):
        who += f" on-behalf-of={record['on_behalf_of']}"
    arguments = json.dumps(record.get("arguments"), ensure_ascii=False, separators=(",", ":"))
    error = f"  error: {record['error']}" if record.get("error") else ""
    return (f"{record.get('time', '?')}  #{record.get('seq', '?')}  {record.get('tool', '?')}  {record.get('status', '?')}"
            f"  {record.get('duration_ms', '?')} ms  {who}  {arguments}{error}")
