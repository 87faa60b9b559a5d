"""The MCP protocol core: JSON-RPC, versions, dispatch, registry. No I/O here.

    caller.py         who is calling: the credential a request came with, as the core sees it
    context.py        what a tool, resource or prompt handler is handed for one request
    dispatch.py       method dispatch: a parsed request and its context in, a result out
    inflight.py       the requests being handled, so that a shutdown ends each one with an error…
    jsonrpc.py        JSON-RPC 2.0 messages: parse bytes into frozen records, encode them back
    outcomes.py       how each request ended, in one vocabulary, told to the dispatcher's observers
    registry.py       what the server offers: tools, resources, resource templates and prompts
    request_state.py  the opaque ``requestState`` of a 2026-07-28 ``input_required`` result
    results.py        turning what a tool handler returns into a ``CallToolResult``
    session.py        a handshake-era MCP session, as the protocol sees it (no I/O, no transport)
    versions.py       protocol versions and the two eras they belong to
"""
