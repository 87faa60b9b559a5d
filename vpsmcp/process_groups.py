"""Children in process groups of their own: what they inherit, and stopping all of each.

The built-in tools' commands (``tools/subprocesses.py``) and stdio upstreams
(``gateway/stdio.py``) start children by the same rules, decided here once:

- **Environment.** Only ``PASSED_ENV`` of vpsmcp's own, then what the caller
  adds (the tools' fixed locale; an upstream's ``env``). The server's
  environment may hold secrets (a token in a unit's ``Environment=``); none
  reaches a child, neither ``exec env`` nor an upstream.
- **Group.** Each child leads a session of its own (``start_new_session``), so
  everything it starts is in its process group and can be stopped with it.
- **Stopping.** SIGTERM to the whole group, ``STOP_GRACE``, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping

# What every program needs to run as the service user does; DOCKER_HOST, CONTAINER_HOST and
# XDG_RUNTIME_DIR say where Docker or Podman listen (the containers tools).
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "XDG_RUNTIME_DIR", "DOCKER_HOST",
              "CONTAINER_HOST")
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL (for an upstream, first between closing stdin and SIGTERM)


def child_env(own: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The few variables of ``own`` every program needs, then ``extra``: no secret leaks through."""
    env = {k: v for k, v in own.items() if k in PASSED_ENV}
    env.update(extra or {})
    return env


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to every process of the group ``pgid``; a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
