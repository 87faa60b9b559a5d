"""The connection trace: every request tagged with the flow of the client that made it.

``middleware`` sees each request; the ``Tracer`` is the observer the endpoint,
the dispatcher and the authorization service are built with, so they say who
it was and how it went;
``flows`` chains requests into flows, ``journal`` writes them to
``trace.jsonl``, ``metrics`` counts, ``verdict`` says what a client never
tried, and ``commands`` is ``vpsmcp logs``.

    commands.py    ``vpsmcp logs``: the connection trace, one block per flow, ending in what the…
    exposition.py  the Prometheus text exposition format (version 0.0.4) of the server's metrics
    flows.py       flows: the requests of one client's connection, chained, in a bounded ring
    journal.py     ``trace.jsonl``: the connection trace on disk, one JSON object per line,…
    metrics.py     counters the server keeps about itself: requests, latency, tool calls, and a…
    middleware.py  the ASGI middleware that sees every request: ``app.asgi_app =…
    pending.py     the request being served, as the trace sees it while it is still open
    reading.py     reading ``trace.jsonl`` back: its lines grouped into flows, and new lines as…
    steps.py       one traced request: which step of a connection it was, and what it got, in words
    tracer.py      the connection trace of a running server: flows in memory, the journal on disk,…
    verdict.py     how far a flow got, and what it never tried, in one sentence
"""
