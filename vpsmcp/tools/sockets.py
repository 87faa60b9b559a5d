"""Sockets from ``/proc/net/{tcp,tcp6,udp,udp6}``, and which process holds each.

The kernel lists every socket with its addresses in hex (each 32-bit word in
host byte order) and its inode; a process holds a socket when one of its
``/proc/PID/fd`` links reads ``socket:[INODE]``. Reading other users'
``fd`` directories needs privilege, so the owning process may be unknown.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass, replace

from vpsmcp.tools.procfs import PROC, pids, read_process

TCP_STATES = {
    "01": "established", "02": "syn-sent", "03": "syn-recv", "04": "fin-wait1", "05": "fin-wait2",
    "06": "time-wait", "07": "close", "08": "close-wait", "09": "last-ack", "0A": "listen", "0B": "closing",
}
TABLES = (("tcp", "ipv4", "tcp"), ("tcp6", "ipv6", "tcp"), ("udp", "ipv4", "udp"), ("udp6", "ipv6", "udp"))


@dataclass(frozen=True, slots=True)
class Socket:
    """One socket: protocol, local and remote ends, state, and its holder when known."""

    protocol: str
    family: str
    address: str
    port: int
    remote_address: str
    remote_port: int
    state: str
    inode: int
    pid: int | None = None
    process: str | None = None

    @property
    def listening(self) -> bool:
        """A TCP socket in LISTEN, or a bound UDP socket with no peer."""
        return self.state == "listen" or (self.protocol == "udp" and self.remote_port == 0)


def _address(field: str) -> tuple[str, int]:
    host, port = field.split(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw)), int(port, 16)


def _table(name: str, family: str, protocol: str) -> list[Socket]:
    try:
        lines = (PROC / "net" / name).read_text().splitlines()[1:]
    except OSError:
        return []  # no IPv6, say
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote = _address(fields[1]), _address(fields[2])
        state = TCP_STATES.get(fields[3], fields[3]) if protocol == "tcp" else ("bound" if remote[1] == 0 else "connected")
        found.append(Socket(protocol, family, local[0], local[1], remote[0], remote[1], state, int(fields[9])))
    return found


def holders() -> dict[int, int]:
    """Socket inode → pid, for the processes whose descriptors we may read."""
    owners: dict[int, int] = {}
    for pid in pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(int(target[8:-1]), pid)
    return owners


def sockets(listening_only: bool = True) -> list[Socket]:
    """Every socket (or only the listening ones), with its holder where we can see it, by port."""
    found = [s for table in TABLES for s in _table(*table) if s.listening or not listening_only]
    owners = holders()
    names: dict[int, str | None] = {}
    result = []
    for sock in found:
        pid = owners.get(sock.inode)
        if pid is not None and pid not in names:
            process = read_process(pid)
            names[pid] = process.name if process else None
        result.append(replace(sock, pid=pid, process=names.get(pid) if pid is not None else None))
    return sorted(result, key=lambda s: (s.port, s.protocol, s.address))
