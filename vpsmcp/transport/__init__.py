"""HTTP and WebSocket adapters between clients and the protocol core.

    endpoint.py        everything the MCP transports share: dispatcher, sessions, checks, timings
    era.py             which era serves a POST to ``/mcp``: the one place that decides, from…
    exchange.py        running a POST's requests and choosing how to answer: JSON or an event stream
    guard.py           checks every MCP request passes before it is read: Host, Origin, size
    handshake.py       streamable HTTP in the handshake era (2025-03-26 … 2025-11-25), with sessions
    http_errors.py     the one place HTTP errors of the MCP endpoints are rendered
    legacy_sse.py      the deprecated HTTP+SSE transport of 2024-11-05, for clients that still use…
    saved_sessions.py  handshake-era sessions that outlive a restart of vpsmcp
    sessionless.py     POSTs to ``/mcp`` without a session that the strict rules would refuse,…
    sessions.py        the session store of the handshake era's Streamable HTTP and legacy SSE…
    sse.py             Server-Sent Events framing (WHATWG HTML, "Server-sent events")
    stateless.py       streamable HTTP in the stateless 2026-07-28 era
    stdio.py           MCP over stdio, as a server (basic/transports, "stdio"): ``vpsmcp stdio``
    streamable.py      routes of the Streamable HTTP endpoint: ``/mcp`` and ``/mcp/`` (no redirect)
    streams.py         outbound message streams, decoupled from the HTTP connections that carry them
    websocket.py       MCP over WebSocket at ``/ws``: subprotocol ``mcp``, one JSON-RPC message…
    ws_headers.py      the WebSocket handshake's comma-separated headers, read without failing on…
"""
