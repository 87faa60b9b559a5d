"""The WebSocket handshake's comma-separated headers, read without failing on bytes that are not ASCII.

hypercorn (0.18) splits ``Connection``, ``Sec-WebSocket-Extensions`` and
``Sec-WebSocket-Protocol`` with wsproto's ``split_comma_header``, which decodes
as ASCII and raises on anything else — inside hypercorn, before the app sees
the request, so one such header dropped the connection and logged a library
traceback. ``install`` gives hypercorn a split that keeps every other piece and
turns undecodable bytes into U+FFFD, which matches no token: the handshake goes
on to the app, and ``/ws`` refuses what is not a token with a 400 (``is_token``).
"""

from __future__ import annotations

import re

from hypercorn.protocol import ws_stream

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: what a subprotocol name is


def split_comma_header(value: bytes) -> list[str]:
    """``value``'s comma-separated pieces, stripped; bytes that are not ASCII become U+FFFD."""
    return [piece.decode("ascii", "replace").strip() for piece in value.split(b",")]


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def install() -> None:
    """Make hypercorn's WebSocket handshake use ``split_comma_header``."""
    ws_stream.split_comma_header = split_comma_header  # type: ignore[attr-defined]
