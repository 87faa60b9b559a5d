"""vpsmcp.status: the owner's status page."""
