"""vpsmcp: a remote MCP endpoint, OAuth 2.1 server and gateway for one VPS, in one file.

Features, each a package with its files listed in its ``__init__``:

    protocol/   the MCP core: JSON-RPC, versions, sessions, dispatch (no I/O, no web framework)
    transport/  Streamable HTTP (both eras), HTTP+SSE, WebSocket, stdio, onto the core
    oauth/      the authorization server and the bearer check
    tools/      the built-in tools for operating the VPS
    gateway/    other MCP servers behind the same endpoint
    trace/      the readable trace of every connection, metrics, ``vpsmcp logs``
    status/     the owner's status page and /metrics
    audit/      the hash-chained audit log of every tool call
    doctor/     ``vpsmcp doctor``: any server, checked as a client connects
    install/    ``vpsmcp install``, ``upgrade``, ``uninstall``
    config/     every setting, declared once
    server/     ``vpsmcp serve``: the app, its socket and its lifetime

What they all share stays here: ``cli`` (the entry point), ``errors``, ``paths``,
``scopes``, ``tool_names``, ``access``, ``atomic``, ``state``, ``logs``, ``plugin``,
``process_groups``, ``observability`` and ``cli_common``.
"""

__version__ = "0.1.0"
