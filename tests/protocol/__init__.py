"""vpsmcp.protocol: the I/O-free core."""
