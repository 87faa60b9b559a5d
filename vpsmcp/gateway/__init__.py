"""The gateway: the owner's stdio and HTTP MCP servers behind vpsmcp's one endpoint.

``link`` is the seam between an MCP client session and the wire (``stdio``,
``streamable``, ``legacy_sse`` over ``http_client``); ``session`` is the
client itself, multiplexing concurrent calls over one initialized session
(``calls`` maps their ids); ``supervisor`` keeps each upstream running;
``provider`` merges what it offers into the registry; ``gateway`` holds them
all for the app.
"""
