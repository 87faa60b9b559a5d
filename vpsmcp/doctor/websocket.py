"""A minimal WebSocket client (RFC 6455): the opening handshake and text frames.

Enough to see whether ``/ws`` upgrades through the proxies in front and
answers an MCP message: client frames are masked (§5.3), pings are answered
(§5.5.2), fragmented messages are joined (§5.4), anything else is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from vpsmcp.doctor.model import ProbeError
from vpsmcp.doctor.probe import Probe

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_HEAD = 64 * 1024
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True, slots=True)
class Handshake:
    """The answer to the upgrade request: 101 when it worked."""

    status: int
    headers: dict[str, str]

    @property
    def subprotocol(self) -> str | None:
        return self.headers.get("sec-websocket-protocol")


class WebSocket:
    """An open connection: send and receive text messages."""

    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self.sock = sock
        self.buffer = leftover

    @classmethod
    def connect(cls, probe: Probe, url: str, headers: Mapping[str, str], subprotocol: str,
                timeout: float) -> tuple[Handshake, WebSocket | None]:
        """Send the opening handshake (§4.1); the socket stays open only on a valid 101."""
        parts = urlsplit(url)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 f"Sec-WebSocket-Protocol: {subprotocol}", f"User-Agent: {probe.user_agent}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        sock = probe.socket(url, timeout)
        ws = cls(sock, b"")
        until = time.monotonic() + timeout
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            head = ws._read_head(until)
        except BaseException:
            sock.close()
            raise
        handshake = _parse_head(head)
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if handshake.status != 101 or handshake.headers.get("sec-websocket-accept") != expected:
            sock.close()
            return handshake, None
        return handshake, ws

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def receive_text(self, until: float) -> str | None:
        """The next text message; ``None`` when the server closes the connection."""
        parts: list[bytes] = []
        while True:
            first, second = self._read(2, until)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2, until))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8, until))[0]
            mask = self._read(4, until) if second & 0x80 else b""
            payload = self._read(length, until)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == CLOSE:
                return None
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode == TEXT or (opcode == 0 and parts):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self._send(CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass  # already gone: closing is all that was wanted
        self.sock.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read_head(self, until: float) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise ProbeError("http", "the upgrade answer's headers never ended")
            self._fill(until)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def _read(self, size: int, until: float) -> bytes:
        while len(self.buffer) < size:
            self._fill(until)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _fill(self, until: float) -> None:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise ProbeError("timeout", "the WebSocket did not answer in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise ProbeError("timeout", "the WebSocket did not answer in time") from None
        except OSError as exc:
            raise ProbeError("connect", f"the WebSocket broke off: {exc.strerror or exc}") from None
        if not chunk:
            raise ProbeError("http", "the connection closed")
        self.buffer += chunk


def _parse_head(head: bytes) -> Handshake:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not (status_line[1].isascii() and status_line[1].isdigit()):
        raise ProbeError("http", f"not an HTTP answer: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Handshake(int(status_line[1]), headers)
