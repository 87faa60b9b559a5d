"""vpsmcp: a remote MCP endpoint, OAuth 2.1 server and gateway for one VPS, in one file."""

__version__ = "0.1.0"
