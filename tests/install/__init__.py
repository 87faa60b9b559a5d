"""vpsmcp.install: install, upgrade, uninstall, the unit and the site."""
