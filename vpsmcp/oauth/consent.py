"""The owner's consent page and its form: rendering, and the CSRF seal.

The page carries the validated authorize request back to us *sealed*: an
HMAC over the request, its issue time and a random value that is also set
as a cookie on our origin (double submit). A POST whose seal, cookie or age
is wrong is refused before the password is even looked at, so another site
can neither forge a consent nor replay an old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from vpsmcp import scopes as scope_names
from vpsmcp.errors import PageError

FORM_MAX_AGE = 900.0
CSRF_COOKIE = "vpsmcp_csrf"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("vpsmcp.oauth", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render_error(error: PageError) -> str:
    return _templates.get_template("error.html").render(title=error.title, message=error.message)


@dataclass(frozen=True, slots=True)
class ScopeChoice:
    name: str
    description: str
    checked: bool
    dangerous: bool


def choices(requested: Sequence[str], supported: Sequence[str]) -> list[ScopeChoice]:
    """The checkboxes: what was asked and exists; if nothing usable was asked, everything.

    Risky scopes (writing files, control, commands) start unticked.
    """
    asked = [s for s in supported if s in set(requested)] or list(supported)
    return [
        ScopeChoice(s, scope_names.describe(s), s not in scope_names.DANGEROUS, s in scope_names.DANGEROUS)
        for s in scope_names.ordered(asked)
    ]


def render_consent(*, client_name: str, redirect_host: str, server: str, action: str,
                   scopes: list[ScopeChoice], sealed: str, csrf: str, error: str | None = None) -> str:
    return _templates.get_template("consent.html").render(
        title="Allow access?", client_name=client_name or "An unnamed client", redirect_host=redirect_host, server=server,
        action=action, scopes=scopes, sealed=sealed, csrf=csrf, error=error,
    )


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def seal(key: str, params: dict[str, str], csrf: str, now: float | None = None) -> str:
    """The authorize request, its time, and a MAC binding both to the CSRF value."""
    body = base64.urlsafe_b64encode(json.dumps({"p": params, "t": now or time.time()}).encode()).decode()
    return body + "." + _mac(key, body, csrf)


def unseal(key: str, sealed: str, csrf_form: str, csrf_cookie: str | None) -> dict[str, str]:
    """The sealed request, if the seal, the double-submitted CSRF value and the age all hold."""
    forged = PageError(
        400, "This form cannot be used",
        "The form is missing its security token, has expired, or did not come from this server (CSRF check failed).",
    )
    body, _, mac = sealed.partition(".")
    if not csrf_cookie or not csrf_form or not _same(csrf_form, csrf_cookie):
        raise forged
    if not _same(mac, _mac(key, body, csrf_cookie)):
        raise forged
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body.encode()))
    if time.time() - float(data["t"]) > FORM_MAX_AGE:
        raise forged
    return {str(k): str(v) for k, v in data["p"].items()}


def _same(a: str, b: str) -> bool:
    """Constant-time equality of form values, which may hold any characters (``compare_digest``
    raises on non-ASCII ``str``)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _mac(key: str, body: str, csrf: str) -> str:
    return hmac.new(key.encode(), f"consent|{body}|{csrf}".encode(), hashlib.sha256).hexdigest()
