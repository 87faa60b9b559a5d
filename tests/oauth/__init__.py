"""vpsmcp.oauth: the authorization server and the bearer check."""
