"""vpsmcp.tools: the built-in tools."""
