"""``vpsmcp doctor``: replay what an MCP connector does against a server, step by step.

From any machine, against any MCP server (vpsmcp or not), the doctor walks the
path Claude's connector takes — DNS, TLS, the unauthenticated 401, the
discovery documents, registration, the era probe, sessions, event streams,
the older transports — and names, for each step that fails, the cause in
plain words and the fix (for vpsmcp: the config key or nginx directive).

    model.py        Status, Outcome, Check: what one step found
    target.py       the URL being checked
    probe.py        bounded HTTP/TLS requests on the standard library
    sse.py          an incremental event-stream parser with arrival times
    websocket.py    a minimal RFC 6455 client for /ws
    rpc.py          MCP messages over HTTP: JSON or event-stream answers
    challenge.py    WWW-Authenticate parsing (RFC 9110 §11.6.1)
    fixes.py        the fixes, generic and vpsmcp-specific
    run.py          options, what earlier steps learned, the runner
    oauth_client.py the OAuth client side: registration, PKCE, tokens, revocation as registered
    refusals.py     what an unexpected status means
    network.py, discovery.py, registration.py, login.py,
    protocol.py, streaming.py, legacy.py     the steps, by concept
    loopback.py     the redirect listener of --login (RFC 8252 §7.3)
    plan.py         the steps in the order a connector meets them; one whole run
    clients.py      one verdict per client (Claude, Claude Code, ChatGPT, Codex, mcp-remote, SDKs)
    report.py       text (with progress) and JSON renderers
    commands.py     ``add_commands(sub)`` for the CLI
"""
