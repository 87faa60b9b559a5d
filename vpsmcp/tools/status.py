"""The machine at a glance: what it is, how busy, how full, what is running and listening."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
from typing import Any

from vpsmcp.protocol.context import Context
from vpsmcp.protocol.registry import Tool
from vpsmcp.protocol.results import ToolResult
from vpsmcp.scopes import READ
from vpsmcp.tools import procfs
from vpsmcp.tools import schemas as s
from vpsmcp.tools.arguments import Args
from vpsmcp.tools.declaration import Declarer
from vpsmcp.tools.network import SOCKET, socket_rows
from vpsmcp.tools.processes import PROCESS, SAMPLE_SECONDS, render, sampled
from vpsmcp.tools.rendering import fields, joined, result, size, table
from vpsmcp.tools.sockets import sockets
from vpsmcp.tools.toolbox import Toolbox

TOP = 5
# Kernel and virtual filesystems: their "disk use" means nothing to an operator.
PSEUDO_FS = frozenset(
    "proc sysfs devpts devtmpfs tmpfs cgroup cgroup2 securityfs debugfs tracefs pstore bpf mqueue hugetlbfs "
    "configfs fusectl autofs binfmt_misc nsfs rpc_pipefs efivarfs squashfs ramfs".split()
)
USE = {"total": s.integer(), "used": s.integer(), "percent": s.number()}
DISK = s.obj({"mount": s.string(), "device": s.string(), "fstype": s.string(), **USE, "free": s.integer()},
             required=("mount", "device", "fstype", "total", "used", "free", "percent"))
OUTPUT = s.obj(
    {
        "hostname": s.string(), "os": s.string(), "kernel": s.string(), "architecture": s.string(),
        "uptime_seconds": s.number(),
        "load": s.obj({"1m": s.number(), "5m": s.number(), "15m": s.number()}),
        "cpu": s.obj({"count": s.integer(), "percent": s.number("Use of all CPUs over the last half second.")}),
        "memory": s.obj({**USE, "available": s.integer()}), "swap": s.obj(USE),
        "disks": s.array(DISK), "top_cpu": s.array(PROCESS), "top_memory": s.array(PROCESS),
        "listening": s.array(SOCKET),
    },
    required=("hostname", "os", "kernel", "architecture", "uptime_seconds", "load", "cpu", "memory", "swap",
              "disks", "top_cpu", "top_memory", "listening"),
)


def tools(box: Toolbox) -> list[Tool]:
    """status."""

    async def status(ctx: Context, args: Args) -> ToolResult:
        busy0, total0 = await asyncio.to_thread(procfs.cpu_times)
        processes = await sampled(SAMPLE_SECONDS)
        busy1, total1 = await asyncio.to_thread(procfs.cpu_times)
        data = await asyncio.to_thread(_facts)
        data["cpu"] = {"count": os.cpu_count() or 1,
                       "percent": round((busy1 - busy0) / max(total1 - total0, 1) * 100, 1)}
        data["top_cpu"] = sorted(processes, key=lambda p: -p["cpu_percent"])[:TOP]
        data["top_memory"] = sorted(processes, key=lambda p: -p["memory_bytes"])[:TOP]
        data["listening"] = socket_rows(await asyncio.to_thread(sockets))
        return result(data, _render(data), box.limit)

    return [
        Declarer(READ, box.timeout)(
            "status", "Machine status", "Hostname, OS, kernel, uptime, load, CPU, memory, swap, disk use per "
            "mount, the busiest processes and the listening ports, in one call.", status, s.inputs({}), OUTPUT),
    ]


def _facts() -> dict[str, Any]:
    mem = procfs.meminfo()
    one, five, fifteen = procfs.loadavg()
    uname = os.uname()
    return {
        "hostname": socket.gethostname(),
        "os": _os_name(),
        "kernel": f"{uname.sysname} {uname.release}",
        "architecture": platform.machine(),
        "uptime_seconds": round(procfs.uptime(), 1),
        "load": {"1m": one, "5m": five, "15m": fifteen},
        "memory": {**_use(mem.get("MemTotal", 0), mem.get("MemTotal", 0) - mem.get("MemAvailable", 0)),
                   "available": mem.get("MemAvailable", 0)},
        "swap": _use(mem.get("SwapTotal", 0), mem.get("SwapTotal", 0) - mem.get("SwapFree", 0)),
        "disks": _disks(),
    }


def _use(total: int, used: int) -> dict[str, Any]:
    return {"total": total, "used": used, "percent": round(used / total * 100, 1) if total else 0.0}


def _os_name() -> str:
    try:
        for line in open("/etc/os-release", encoding="utf-8"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _disks() -> list[dict[str, Any]]:
    disks, seen = [], set()
    for line in (procfs.PROC / "self" / "mounts").read_text().splitlines():
        device, mount, fstype = line.split()[:3]
        mount = mount.replace("\\040", " ")
        if fstype in PSEUDO_FS or device in seen:
            continue
        try:
            vfs = os.statvfs(mount)
        except OSError:
            continue
        if vfs.f_blocks == 0:
            continue
        seen.add(device)
        total, free = vfs.f_blocks * vfs.f_frsize, vfs.f_bavail * vfs.f_frsize
        used = total - vfs.f_bfree * vfs.f_frsize
        disks.append({"mount": mount, "device": device, "fstype": fstype, **_use(total, used), "free": free})
    return disks


def _render(data: dict[str, Any]) -> str:
    up = int(data["uptime_seconds"])
    summary = fields({
        "host": f"{data['hostname']} ({data['os']}, {data['kernel']}, {data['architecture']})",
        "uptime": f"{up // 86400}d {up % 86400 // 3600}h {up % 3600 // 60}m",
        "load": " ".join(str(v) for v in data["load"].values()),
        "cpu": f"{data['cpu']['percent']}% of {data['cpu']['count']} CPUs",
        "memory": f"{size(data['memory']['used'])} of {size(data['memory']['total'])} ({data['memory']['percent']}%)",
        "swap": f"{size(data['swap']['used'])} of {size(data['swap']['total'])}",
    })
    disks = table([{**d, "size": size(d["total"]), "used": size(d["used"]), "use": f"{d['percent']}%"}
                   for d in data["disks"]], ["mount", "fstype", "size", "used", "use"])
    ports = table(data["listening"], ["protocol", "address", "port", "process"])
    return joined(summary, "DISKS\n" + disks, "TOP CPU\n" + render(data["top_cpu"]),
                  "TOP MEMORY\n" + render(data["top_memory"]), "LISTENING\n" + ports)
