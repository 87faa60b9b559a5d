"""vpsmcp.transport: Streamable HTTP, HTTP+SSE, WebSocket, sessions, hostile input."""
