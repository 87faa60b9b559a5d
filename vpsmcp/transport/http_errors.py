"""The one place HTTP errors of the MCP endpoints are rendered.

Handlers raise ``TransportError``; ``answer_of`` turns it into its status,
headers and a JSON-RPC error body, which the lean ASGI endpoint sends. Quart
sees only the paths below the transports' (``/mcp/x``, ``/ws/``): its error
handlers give Werkzeug's HTTP errors there (404, 405) the same JSON-RPC shape,
so clients never have to parse an HTML page.
"""

from __future__ import annotations

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST
from vpsmcp.transport.answer import Answer


def answer_of(error: TransportError) -> Answer:
    return Answer.json(jsonrpc.encode(jsonrpc.error_response(error)), error.status, error.headers)


def to_quart(answer: Answer) -> Response:
    """``answer`` as Quart sends it (the routes Quart still serves); a stream is never cut by a timeout."""
    response = Response(answer.body, status=answer.status, headers=answer.headers)
    if not isinstance(answer.body, bytes):
        response.timeout = None
    return response


def register(app: Quart) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(TransportError)
    async def transport_error(error: TransportError) -> Response:
        return to_quart(answer_of(error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if not request.path.startswith(paths.MCP_TRANSPORTS) or error.code is None:
            return error.get_response()  # type: ignore[return-value]
        headers = {}
        if error.code == 405:
            headers["Allow"] = ", ".join(sorted(getattr(error, "valid_methods", None) or ()))
        return to_quart(answer_of(TransportError(error.code, INVALID_REQUEST, error.description or error.name,
                                                 headers=headers)))
