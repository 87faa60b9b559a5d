"""The owner's login to the status page: a signed session cookie, and CSRF tokens for its forms.

The session cookie is ``EXPIRES.NONCE.MAC``, the MAC an HMAC-SHA256 under a
key derived from the server's secret key *and* the stored owner-password
record, so setting a new password (``vpsmcp passwd``) ends every login. It
is HttpOnly, SameSite=Strict, Secure when the public URL is https, and sent
only to ``/status``.

CSRF (OWASP's "signed double-submit cookie"): the login form carries a MAC
of a random value also set as a cookie; the forms of a logged-in page carry a
MAC of the session's nonce. Both are compared in constant time, so another
site can neither post a revoke in the owner's name nor log them in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_COOKIE = "vpsmcp_status"
LOGIN_COOKIE = "vpsmcp_status_login"
COOKIE_PATH = "/status"


@dataclass(frozen=True, slots=True)
class Login:
    """A valid session: its nonce (what its CSRF tokens are bound to) and when it ends."""

    nonce: str
    expires: float


class Signer:
    """Issues and checks the status page's cookies and CSRF tokens."""

    def __init__(self, secret_key: str, password_file: Path, lifetime: float) -> None:
        self.secret_key = secret_key
        self.password_file = password_file
        self.lifetime = lifetime

    def issue(self, now: float | None = None) -> tuple[str, Login]:
        """A new session's cookie value and the login it stands for."""
        login = Login(secrets.token_urlsafe(18), round((time.time() if now is None else now) + self.lifetime))
        body = f"{int(login.expires)}.{login.nonce}"
        return f"{body}.{self._mac('session', body)}", login

    def verify(self, cookie: str | None, now: float | None = None) -> Login | None:
        """The login a cookie stands for; ``None`` if it is missing, forged, expired, or of an old password."""
        if not cookie or cookie.count(".") != 2:
            return None
        expires, nonce, mac = cookie.split(".")
        if not (expires.isascii() and expires.isdigit()) or not hmac.compare_digest(mac, self._mac("session", f"{expires}.{nonce}")):
            return None
        if int(expires) <= (time.time() if now is None else now):
            return None
        return Login(nonce, float(expires))

    def csrf(self, login: Login) -> str:
        return self._mac("csrf", login.nonce)

    def csrf_ok(self, login: Login, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(login))

    def login_csrf(self, cookie: str) -> str:
        return self._mac("login", cookie)

    def login_csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token) and hmac.compare_digest(str(token), self.login_csrf(str(cookie)))

    def _mac(self, purpose: str, body: str) -> str:
        return hmac.new(self._key(), f"{purpose}|{body}".encode(), hashlib.sha256).hexdigest()

    def _key(self) -> bytes:
        try:
            record = self.password_file.read_bytes()
        except OSError:
            record = b"no password"
        return hashlib.sha256(b"vpsmcp status|" + self.secret_key.encode() + b"|" + record).digest()
