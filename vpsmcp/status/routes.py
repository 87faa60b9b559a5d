"""The owner's status page: ``/status``, its login and logout, and the revoke button.

Server-rendered forms that work without JavaScript. ``GET /status`` without
a valid login is sent to ``/status/login`` (303); a POST without one is 401.
Each POST checks its CSRF token before anything else (``login.py``); the
password is checked like the consent page checks it: the same stored
password, the same per-address brake, in a worker thread.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import jinja2
from quart import Blueprint, Response, request

from vpsmcp.errors import PageError
from vpsmcp.oauth.owner import OwnerLogin
from vpsmcp.status import chart as chart_geometry
from vpsmcp.status.login import COOKIE_PATH, LOGIN_COOKIE, SESSION_COOKIE, Login, Signer
from vpsmcp.status.page import Sources, gather

LOGIN_FORM_AGE = 900
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("vpsmcp.status", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def forged() -> PageError:
    return PageError(400, "This form cannot be used",
                           "The form is missing its security token or has expired (CSRF check failed). Reload the page.")


def status_routes(src: Sources, login: OwnerLogin, client_address: Callable[[Any], str]) -> Blueprint:
    """The blueprint; ``login`` is the consent page's, so the brake is shared."""
    views = _Views(src, login, client_address)
    bp = Blueprint("status", __name__)
    bp.add_url_rule("/status", "page", views.page, methods=["GET"])
    bp.add_url_rule("/status/login", "login_page", views.login_page, methods=["GET"])
    bp.add_url_rule("/status/login", "log_in", views.log_in, methods=["POST"])
    bp.add_url_rule("/status/logout", "log_out", views.log_out, methods=["POST"])
    bp.add_url_rule("/status/revoke", "revoke", views.revoke, methods=["POST"])
    bp.register_error_handler(PageError, _refused)
    return bp


class _Views:
    """The status page's views, over the live server and the owner's password."""

    def __init__(self, src: Sources, login: OwnerLogin, client_address: Callable[[Any], str]) -> None:
        self.src = src
        self.login = login
        self.client_address = client_address
        runtime = src.runtime
        self.signer = Signer(runtime.secret_key, login.password.path, runtime.config.status.login_lifetime)
        self.secure = runtime.public_url.startswith("https://")

    def logged_in(self) -> Login | None:
        return self.signer.verify(request.cookies.get(SESSION_COOKIE))

    async def page(self) -> Response:
        login = self.logged_in()
        if login is None:
            return _redirect("/status/login")
        revoked = request.args.get("revoked", "")
        notice = f"Revoked {revoked} grant(s): the client must log in again." if revoked.isdigit() else ""
        return _html(_render("status.html", title="Status", base=COOKIE_PATH, csrf=self.signer.csrf(login),
                             notice=notice, minutes=chart_geometry.BAR_MINUTES, left=chart_geometry.LEFT,
                             bar_width=chart_geometry.BAR_WIDTH, **gather(self.src)))

    async def login_page(self) -> Response:
        if self.logged_in() is not None:
            return _redirect("/status")
        return self.login_form(secrets.token_urlsafe(18))

    def login_form(self, nonce: str, error: str | None = None, status: int = 200) -> Response:
        html = _render("login.html", title="Log in", action="/status/login", csrf=self.signer.login_csrf(nonce),
                       error=error)
        response = _html(html, status)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_FORM_AGE, path=COOKIE_PATH, httponly=True,
                            samesite="Strict", secure=self.secure)
        return response

    async def log_in(self) -> Response:
        form = await request.form
        nonce = request.cookies.get(LOGIN_COOKIE)
        if nonce is None or not self.signer.login_csrf_ok(nonce, form.get("csrf")):
            raise forged()
        try:
            await self.login.attempt(self.client_address(request), form.get("password", ""))
        except PageError as refused:  # shown on the form again, to try once more
            return self.login_form(nonce, refused.message, refused.status)
        cookie, _ = self.signer.issue()
        response = _redirect("/status")
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(self.signer.lifetime), path=COOKIE_PATH,
                            httponly=True, samesite="Strict", secure=self.secure)
        response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
        return response

    async def checked_form(self) -> Any:
        """The form of a logged-in POST whose CSRF token holds; 401 or 400 otherwise."""
        login = self.logged_in()
        if login is None:
            raise PageError(401, "Not logged in", "Log in with the owner password first.")
        form = await request.form
        if not self.signer.csrf_ok(login, form.get("csrf")):
            raise forged()
        return form

    async def log_out(self) -> Response:
        await self.checked_form()
        response = _redirect("/status/login")
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict", secure=self.secure)
        return response

    async def revoke(self) -> Response:
        form = await self.checked_form()
        if self.src.oauth is None:
            raise PageError(404, "No clients", "Authentication is off: there is nothing to revoke.")
        client_id = str(form.get("client_id", ""))
        count = self.src.oauth.store.revoke(lambda f: f.client_id == client_id)
        return _redirect(f"/status?revoked={count}")


async def _refused(error: PageError) -> Response:
    return _html(_render("message.html", title=error.title, message=error.message, back=COOKIE_PATH), error.status)


def _render(name: str, **context: Any) -> str:
    return _templates.get_template(name).render(**context)


def _html(html: str, status: int = 200) -> Response:
    return Response(html, status=status, content_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})
