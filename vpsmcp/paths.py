"""The URL paths vpsmcp serves its MCP transports at, declared once.

Transports route on them, the OAuth side names them as protected resources
(RFC 9728: each gets its own ``resource`` and metadata URL), the error
renderer answers them in JSON-RPC, the trace names their steps, and the first
words ``serve`` prints end in one of them. The nginx site in ``systemd/``
proxies everything, so it names none.
"""

from __future__ import annotations

MCP = "/mcp"  # Streamable HTTP, both eras (also served at "/mcp/")
SSE = "/sse"  # 2024-11-05 HTTP+SSE: the event stream
MESSAGES = "/messages"  # 2024-11-05 HTTP+SSE: where the client posts
WS = "/ws"  # MCP over WebSocket (subprotocol "mcp")
HEALTHZ = "/healthz"
METRICS = "/metrics"

PROTECTED = (MCP, SSE, WS)  # the resources a token is issued for (messages belong to /sse)
MCP_TRANSPORTS = (MCP, SSE, MESSAGES, WS)  # answered with JSON-RPC errors, not HTML
