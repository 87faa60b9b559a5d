"""vpsmcp.audit: the hash-chained audit log."""
