"""vpsmcp.server, vpsmcp.config and the CLI."""
