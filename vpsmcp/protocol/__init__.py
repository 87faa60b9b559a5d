"""The MCP protocol core: JSON-RPC, versions, dispatch, registry. No I/O here."""
