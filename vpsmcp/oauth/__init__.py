"""vpsmcp's own OAuth 2.1 authorization server and the resource server's bearer check.

Built for how MCP clients, Claude's connector first, really behave
(MCP basic/authorization; RFC 6749, 7009, 7591, 7636, 8414, 8707, 9207, 9728;
the client ID metadata documents draft). authlib's core runs the grants;
everything that touches Quart, files or the network is adapted here.

    adapter.py        authlib's synchronous server core, fed from Quart
    authorization.py  the authorization server: authlib's grants with vpsmcp's rules
    bearer.py         the resource server's side: who holds this bearer token, and the challenges
    cimd.py           client ID metadata documents: fetched with limits, cached, checked
    cimd_offer.py     whether to offer client ID metadata documents: only while this server can…
    codes.py          authorization codes: one minute, one use (RFC 6749 §4.1.2, §10.5); in memory, or in…
    commands.py       ``vpsmcp passwd``, ``vpsmcp clients …`` and ``vpsmcp tokens …``
    consent.py        the owner's consent page and its form: rendering, and the CSRF seal
    events.py         what the authorization server tells the connection trace: the seam it calls
    file_store.py     the ``files`` backend: every client and token family in one JSON file, rewritten…
    metadata.py       the discovery documents: RFC 9728 protected resource metadata, RFC 8414…
    owner.py          the VPS owner's password and the brake on guessing it
    personal.py       personal access tokens: bearer tokens the owner makes for what cannot do OAuth
    pkce.py           PKCE with S256 only, required of every client (RFC 7636; MCP…
    rate_limit.py     sliding-window limits: how many times something may happen per key in a…
    records.py        what the authorization server remembers: clients and token families
    redis_store.py    the ``redis`` backend: clients and token families in Redis or Valkey, shared…
    registration.py   dynamic client registration (RFC 7591), written by hand
    resources.py      the URLs this server is known by: issuer, protected resources, metadata
    routes.py         the authorization server's HTTP face: discovery, authorize, token, register,…
    service.py        the authorization server as the app sees it: one object, built once per app
    setup.py          building the authorization server for a running app, from the config
    sqlite_store.py   the ``sqlite`` backend: clients and token families in one SQLite database
    store.py          where clients and token families live: one interface, a backend chosen by…
"""
