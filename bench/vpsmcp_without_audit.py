"""``vpsmcp`` with the audit log's per-call writes skipped, for bench/gateway.py's second vpsmcp row.

Every tools/call is appended to the audit log (fsynced in groups by a worker
thread, on the server's one core); this row shows what the gateway costs
apart from that. Not a product mode: the real server always audits.
"""

from __future__ import annotations

import sys

from vpsmcp import cli
from vpsmcp.audit.log import AuditLog

AuditLog.answered = lambda self, answer: None  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
