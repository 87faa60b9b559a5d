"""The one place HTTP errors of the MCP endpoints are rendered.

Handlers raise ``TransportError``; this turns it into its status, headers and
a JSON-RPC error body. Werkzeug's own HTTP errors on MCP paths (405, 413)
get the same JSON-RPC shape, so clients never have to parse an HTML page.
"""

from __future__ import annotations

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from vpsmcp import paths
from vpsmcp.errors import TransportError
from vpsmcp.protocol import jsonrpc
from vpsmcp.protocol.jsonrpc import INVALID_REQUEST


def render(error: TransportError) -> Response:
    body = jsonrpc.encode(jsonrpc.error_response(error))
    return Response(body, status=error.status, content_type="application/json", headers=error.headers)


def register(app: Quart) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(TransportError)
    async def transport_error(error: TransportError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if not request.path.startswith(paths.MCP_TRANSPORTS) or error.code is None:
            return error.get_response()  # type: ignore[return-value]
        headers = {}
        if error.code == 405:
            headers["Allow"] = ", ".join(sorted(getattr(error, "valid_methods", None) or ()))
        return render(TransportError(error.code, INVALID_REQUEST, error.description or error.name, headers=headers))
