"""``--login``: the login a person does in Claude, in one terminal.

Register a native client whose redirect is a loopback listener (RFC 8252),
send the person to the authorization URL (printed, and opened in a browser
when there is one), check the answer's ``state`` and — when the server
promises it — ``iss`` (RFC 9207 §2.4), and exchange the code with the PKCE
verifier and ``resource``. The token then lets the protocol steps in; at the
end it is revoked (RFC 7009) and the doctor's registration deleted where the
server offers RFC 7592, so the doctor leaves no live grant behind.
"""

from __future__ import annotations

import hmac
import secrets
import webbrowser
from typing import Any

from vpsmcp.doctor import fixes
from vpsmcp.doctor.loopback import RedirectListener
from vpsmcp.doctor.model import Outcome, failed, passed, skipped, warned
from vpsmcp.doctor.oauth_client import (
    auth_method,
    authorize_url,
    exchange_code,
    oauth_error,
    pkce_pair,
    register,
    revoke,
)
from vpsmcp.doctor.probe import Reply
from vpsmcp.doctor.registration import delete_registration
from vpsmcp.doctor.run import Run, StepSpec
from vpsmcp.doctor.target import canonical

GROUP = "login"


def login(run: Run) -> Outcome:
    document = run.facts.server_metadata
    if run.facts.auth == "none":
        return skipped("no authentication: nothing to log in to")
    if document is None:
        return failed("cannot log in without authorization server metadata", "see the discovery steps above")
    endpoint = document.get("registration_endpoint")
    if not isinstance(endpoint, str):
        return failed("cannot log in: the server offers no dynamic registration",
                      "the doctor registers itself as a native app with a loopback redirect",
                      run.fix(fixes.REGISTRATION))
    with RedirectListener() as listener:
        client = _register_doctor(run, endpoint, listener.redirect_uri)
        if isinstance(client, Outcome):
            return client
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(24)
        url = authorize_url(str(document["authorization_endpoint"]), str(client["client_id"]), listener.redirect_uri,
                            challenge, state, run.facts.scope, canonical(run.target.url))
        run.reporter.note(f"Log in and allow access in a browser; waiting up to {run.options.login_timeout:g} s:\n{url}")
        if run.options.open_browser:
            webbrowser.open(url)
        answer = listener.wait(run.options.login_timeout)
    if answer is None:
        return failed(f"no login within {run.options.login_timeout:g} s",
                      "the browser never came back to the doctor", "open the URL above, log in and allow")
    refusal = _check_answer(run, answer, state)
    if refusal is not None:
        return refusal
    reply = exchange_code(run.probe, str(document["token_endpoint"]), client, answer["code"], listener.redirect_uri,
                          verifier, canonical(run.target.url))
    body = reply.json()
    if reply.status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        return failed(f"exchanging the code: {oauth_error(reply)}", "the login cannot finish")
    run.facts.token, run.facts.login, run.facts.login_client = body["access_token"], body, client
    return passed(f"logged in: a {body.get('token_type', 'bearer')} token for "
                  f"\"{body.get('scope', run.facts.scope)}\", valid {body.get('expires_in', '?')} s")


def _register_doctor(run: Run, endpoint: str, redirect_uri: str) -> dict[str, Any] | Outcome:
    """The doctor registers as what it is: a native app with a loopback redirect (RFC 8252 §7.3)."""
    reply = register(run.probe, endpoint, {
        "client_name": "vpsmcp doctor", "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none", "application_type": "native",
    })
    client = reply.json()
    if reply.status not in (200, 201) or not isinstance(client, dict) or "client_id" not in client:
        return failed(f"registering the doctor: {oauth_error(reply)}", "the doctor cannot log in",
                      run.fix(fixes.REGISTRATION))
    return client


def _check_answer(run: Run, answer: dict[str, str], state: str) -> Outcome | None:
    if not hmac.compare_digest(answer.get("state", "").encode(), state.encode()):
        return failed("the answer's state is not the one sent", "a client must drop such an answer (RFC 6749 §10.12)")
    if "error" in answer:
        return failed(f"authorization refused: {answer['error']} {answer.get('error_description', '')}".strip(),
                      "the person denied access, or the server refused the request")
    document: dict[str, Any] = run.facts.server_metadata or {}
    if document.get("authorization_response_iss_parameter_supported") and answer.get("iss") != document.get("issuer"):
        return failed(f"the answer's iss is {answer.get('iss')!r}, not {document.get('issuer')!r}",
                      "clients must refuse it when the server promises iss (RFC 9207 §2.4)", run.fix(fixes.ISSUER))
    if "code" not in answer:
        return failed("the answer has no code", "the login cannot finish")
    return None


def log_out(run: Run) -> Outcome:
    """Revoke what ``--login`` obtained (refresh token first: it ends the whole grant), as the doctor's
    client registered, then delete that registration where the server offers RFC 7592."""
    document, tokens, client = run.facts.server_metadata or {}, run.facts.login, run.facts.login_client
    if tokens is None or client is None:
        return skipped("not logged in")
    endpoint = document.get("revocation_endpoint")
    refused: Reply | None = None  # the first answer to a public client's revocation without a secret
    if isinstance(endpoint, str):
        for hint in ("refresh_token", "access_token"):
            if not isinstance(tokens.get(hint), str):
                continue
            reply = revoke(run.probe, endpoint, client, tokens[hint], hint)
            if reply.status != 200 and _wants_a_secret(reply, client):
                refused = refused or reply
                reply = revoke(run.probe, endpoint, client, tokens[hint], hint, empty_secret=True)
            if reply.status != 200:
                return failed(f"revoking the {hint}: {oauth_error(reply)}", "RFC 7009 §2.2 answers 200")
    summary = ("the doctor's tokens are revoked" if isinstance(endpoint, str) else
               "no revocation endpoint: the doctor's token stays valid until it expires")
    summary += "; " + delete_registration(run, client, "the doctor's login registration")
    if refused is not None:
        return warned(f"{summary}; but the revocation endpoint refuses a public client that sends no "
                      f"client_secret ({oauth_error(refused)})",
                      "a public client has no secret to send (RFC 6749 §2.3, RFC 7009 §2.1); the doctor logged "
                      "out by sending an empty one (python-sdk#3508)",
                      "let public clients revoke without client_secret (the Python SDK's fix is python-sdk#3512)")
    return passed(summary) if isinstance(endpoint, str) else skipped(summary)


def _wants_a_secret(reply: Reply, client: dict[str, Any]) -> bool:
    """A public client's revocation refused for the missing ``client_secret`` field (python-sdk#3508)."""
    return auth_method(client) == "none" and reply.status in (400, 401) and "client_secret" in oauth_error(reply)


LOGIN_STEPS = (StepSpec(GROUP, "login", login),)
LOGOUT_STEPS = (StepSpec(GROUP, "log out", log_out),)
