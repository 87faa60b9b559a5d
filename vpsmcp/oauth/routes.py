"""The authorization server's HTTP face: discovery, authorize, token, register, revoke.

Each view reads validate → call the service → render; errors are raised and
rendered by the two handlers at the bottom (JSON for clients; a redirect or a
page at ``/authorize``, RFC 6749 §4.1.2.1). Discovery, token and registration
ignore ``MCP-Protocol-Version`` and any ``Authorization`` header, and answer
browser-based clients' CORS preflights.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from quart import Blueprint, Response, request

from vpsmcp import paths
from vpsmcp.errors import PageError, StateError
from vpsmcp.oauth import consent
from vpsmcp.oauth.adapter import Answer, SnapshotRequest, snapshot
from vpsmcp.oauth.cimd import FetchFailed
from vpsmcp.oauth.consent import CSRF_COOKIE
from vpsmcp.oauth.metadata import authorization_server, protected_resource
from vpsmcp.oauth.registration import InvalidClientMetadata
from vpsmcp.oauth.service import AuthorizationService

log = logging.getLogger("vpsmcp.oauth")

MAX_REGISTRATION_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
AS_METADATA_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/<path:suffix>",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/<path:suffix>",
    "/mcp/.well-known/openid-configuration",
    "/mcp/.well-known/oauth-authorization-server",
)
CORS_PATHS = ("/.well-known/", "/token", "/register", "/revoke", "/mcp/.well-known/")


def oauth_routes(service: AuthorizationService, client_address: Callable[[Any], str]) -> Blueprint:
    """The blueprint; ``client_address(request)`` names the caller for the login brake."""
    bp = Blueprint("oauth", __name__)
    res = service.resources

    @bp.get("/.well-known/oauth-protected-resource")
    @bp.get("/.well-known/oauth-protected-resource/<path:suffix>")
    async def resource_metadata(suffix: str = "") -> Response:
        path = "/" + suffix.rstrip("/") if suffix else ""
        if path and path not in paths.PROTECTED:
            return _json({"error": "not_found", "error_description": f"no protected resource at {path}"}, 404)
        return _json(protected_resource(res, path, service.scopes()))

    async def server_metadata(suffix: str = "") -> Response:
        return _json(authorization_server(res, service.scopes(), service.cimd_offer.offered))

    for rule in AS_METADATA_PATHS:
        bp.add_url_rule(rule, f"as_metadata_{AS_METADATA_PATHS.index(rule)}", server_metadata, methods=["GET"])

    @bp.get("/authorize")
    async def authorize_page() -> Response:
        params = request.args.to_dict(flat=True)
        auth_request = _authorize_request(res.url("/authorize"), params)
        await service.ensure_client(params.get("client_id"))
        grant = service.consent_grant(auth_request)
        return _consent_page(service, grant, params, consent.new_csrf())

    @bp.post("/authorize")
    async def authorize_decision() -> Response:
        form = await request.form
        params = consent.unseal(service.secret_key, form.get("request", ""), form.get("csrf", ""),
                                request.cookies.get(CSRF_COOKIE))
        auth_request = _authorize_request(res.url("/authorize"), params)
        await service.ensure_client(params.get("client_id"))
        grant = service.consent_grant(auth_request)
        if form.get("decision") != "allow":
            return _answer(service.deny(auth_request, grant))
        # Only what the page offered (the sealed request's choices), whatever else the form ticks.
        offered = {c.name for c in consent.choices((params.get("scope") or "").split(), service.scopes())}
        granted = [s for s in dict.fromkeys(form.getlist("scope")) if s in offered]
        try:
            await service.login.attempt(client_address(request), form.get("password", ""))
            if not granted:
                raise PageError(400, "Nothing granted", "Tick at least one thing the client may do, or press Deny.")
        except PageError as error:
            return _consent_page(service, grant, params, request.cookies[CSRF_COOKIE], error)
        return _answer(await service.off_the_loop(service.approve, auth_request, grant, granted))

    @bp.post("/token")
    async def token() -> Response:
        return _answer(await service.token(await _form_request(res.url("/token"))))

    @bp.post("/revoke")
    async def revoke() -> Response:
        return _answer(await service.revoke(await _form_request(res.url("/revoke"))))

    @bp.post("/register")
    async def register() -> Response:
        raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)  # read: keep-alive survives
        service.admit_registration(client_address(request))
        if len(raw) > MAX_REGISTRATION_BYTES:
            raise InvalidClientMetadata(f"registration requests are limited to {MAX_REGISTRATION_BYTES} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            raise InvalidClientMetadata("The registration request must be a JSON object") from None
        return _json(await service.off_the_loop(service.register, body), 201, NO_STORE)

    @bp.after_request  # this blueprint's routes only: an app-wide hook would cost every MCP request
    async def cors(response: Response) -> Response:
        if request.path.startswith(CORS_PATHS):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, MCP-Protocol-Version"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    @bp.errorhandler(OAuth2Error)
    async def oauth_error(error: OAuth2Error) -> Response:
        if request.path == "/authorize":
            if error.redirect_uri:
                return _answer(service.error_redirect(error))
            if isinstance(error, FetchFailed):
                return _page(PageError(502, "This server could not fetch the client's registration", error.description))
            return _page(PageError(400, "This connection request is invalid", error.description
                                   or error.error))
        return _answer(Answer(*error()))

    @bp.errorhandler(StateError)
    async def cannot_save(error: StateError) -> Response:
        """The store could not be written (a full disk): nothing changed; the client may try again."""
        log.error("%s", error)
        retry = {"Retry-After": "30", **NO_STORE}
        if request.path == "/authorize":
            response = _page(PageError(503, "This server cannot save right now",
                                       "The server's disk is full or cannot be written; nothing was changed. "
                                       "Try again in a minute."))
            response.headers["Retry-After"] = "30"
            return response
        return _json({"error": "temporarily_unavailable",
                      "error_description": "the server cannot save right now (its disk is full or cannot be "
                                           "written); nothing was changed, try again later"}, 503, retry)

    @bp.errorhandler(PageError)
    async def page_error(error: PageError) -> Response:
        return _page(error)

    return bp


def _authorize_request(url: str, params: dict[str, str]) -> SnapshotRequest:
    return snapshot("GET", url, {}, params, {})


async def _form_request(url: str) -> SnapshotRequest:
    form = await request.form
    return snapshot("POST", url, dict(request.headers), {}, form)


def _consent_page(service: AuthorizationService, grant: Any, params: dict[str, str], csrf: str,
                  error: PageError | None = None) -> Response:
    client = service.client_of(grant)
    requested = (params.get("scope") or "").split()
    html = consent.render_consent(
        client_name=client.name, redirect_host=client.redirect_host, server=service.resources.base,
        action=service.resources.url("/authorize"), scopes=consent.choices(requested, service.scopes()),
        sealed=consent.seal(service.secret_key, params, csrf), csrf=csrf, error=error.message if error else None,
    )
    response = Response(html, status=error.status if error else 200, content_type="text/html; charset=utf-8")
    response.headers.update({**NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy":
                             "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"})
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Lax", path="/authorize",
                        secure=service.resources.base.startswith("https://"))
    return response


def _page(error: PageError) -> Response:
    response = Response(consent.render_error(error), status=error.status, content_type="text/html; charset=utf-8")
    response.headers.update(NO_STORE)
    return response


def _answer(answer: Answer) -> Response:
    headers = dict(answer.headers)
    if isinstance(answer.body, (dict, list)):
        return _json(answer.body, answer.status, headers)
    return Response(answer.body or "", status=answer.status, headers=headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers or {})
