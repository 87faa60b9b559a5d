"""``vpsmcp install``, ``upgrade`` and ``uninstall``: a VPS set up as one plan of steps, and undone as one.

    plan.py         steps as records, carried out in order; a failed plan puts back what it did
    layout.py       where an installed vpsmcp lives, and facts about the target machine
    units.py        which systemd units run vpsmcp: vpsmcp.service, or vpsmcp@PORT.service for each of N…
    templates.py    the shipped systemd/ files (from the pyz or the checkout), rendered
    site.py         the nginx site and TLS (certbot), and its checks
    grants.py       drop-ins, groups and the polkit rule for exactly the enabled tools
    site_check.py   the last step: https://HOST/healthz through the local nginx
    install.py      the install plan: pyz, user, config, unit, grants, site
    upgrade.py      upgrade and --rollback
    remove.py       uninstall [--purge]
    commands.py     ``add_commands(sub)`` for the CLI
"""
