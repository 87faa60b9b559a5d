"""``vpsmcp serve``: the one process that holds the app, its listening socket and its lifetime.

    runtime.py          Runtime: config, state, secret, public URL — what every part is handed
    app.py              create_app(runtime): the Quart app, its blueprints, the ASGI wrappers
    host_header.py      the outermost ASGI wrapper: a Host no URL can hold is 400
    http_connection.py  Quart's HTTP connection, run in the task hypercorn calls it in
    access_log.py       the access line, hypercorn's logger hook (only serve imports hypercorn)
    serving.py          binding (port 0 works), hypercorn's config, SIGTERM/SIGINT → graceful stop
    sd_notify.py        READY=1 / STOPPING=1 to systemd (the unit is Type=notify)
    next_step.py        the one line serve says on every start: the URL and how to connect
    commands.py         ``serve``, ``init``, ``check-config``: ``add_commands(sub)``
"""
