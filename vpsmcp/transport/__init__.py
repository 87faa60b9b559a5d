"""HTTP and WebSocket adapters between clients and the protocol core."""
