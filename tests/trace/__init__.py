"""vpsmcp.trace: the connection trace, logs and metrics."""
