"""The connection trace: every request tagged with the flow of the client that made it.

``middleware`` sees each request, ``observers`` and ``events`` let the gate,
the dispatcher and the authorization service say who it was and how it went,
``flows`` chains requests into flows, ``journal`` writes them to
``trace.jsonl``, ``metrics`` counts, ``verdict`` says what a client never
tried, and ``commands`` is ``vpsmcp logs``.
"""
