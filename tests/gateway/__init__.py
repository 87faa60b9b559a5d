"""vpsmcp.gateway: upstream MCP servers behind the endpoint."""
