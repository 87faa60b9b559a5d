"""Registration and the authorization server's endpoints, as Claude uses them.

Claude registers by CIMD or dynamic registration (RFC 7591) with
``client_secret_post`` and its callbacks, expects a ``client_secret`` back,
sends the person to ``/authorize`` with S256 and ``resource``, and re-registers
when the token endpoint says ``401 invalid_client`` (support.claude.com 11503834).
ChatGPT and Codex register too, each with its own kind of callback; every
registration of the doctor's is deleted at the end where RFC 7592 allows.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vpsmcp.doctor import fixes
from vpsmcp.doctor.model import CHATGPT, CODEX, Outcome, failed, passed, skipped, warned
from vpsmcp.doctor.oauth_client import (
    CHATGPT_CALLBACK,
    CLAUDE_CALLBACKS,
    CODEX_CALLBACK,
    authorize_url,
    claude_registration,
    oauth_error,
    other_registration,
    pkce_pair,
    register,
    token_request,
)
from vpsmcp.doctor.run import Run, StepSpec
from vpsmcp.doctor.target import canonical, origin_of

GROUP = "registration"


def registration(run: Run) -> Outcome:
    document = run.facts.server_metadata
    if document is None:
        return skipped("no authorization server metadata")
    cimd = document.get("client_id_metadata_document_supported") is True
    endpoint = document.get("registration_endpoint")
    if not isinstance(endpoint, str):
        if cimd:
            return passed("client ID metadata documents (no dynamic registration)")
        return warned("neither dynamic registration nor client ID metadata documents",
                      "people must type a client ID and secret into Claude's advanced settings",
                      run.fix(fixes.REGISTRATION))
    reply = register(run.probe, endpoint, claude_registration(run.facts.scope))
    client = reply.json()
    if reply.status not in (200, 201) or not isinstance(client, dict) or not client.get("client_id"):
        return failed(f"registering as Claude: {oauth_error(reply)}", "Claude cannot register",
                      run.fix(fixes.REGISTRATION))
    run.facts.client = client
    problems = _registration_problems(reply.status, client)
    seen = f"dynamic registration (HTTP {reply.status}) with Claude's callbacks" + (", and CIMD" if cimd else "")
    if problems:
        return warned(f"{seen}; but {'; '.join(problems)}",
                      "Claude registers with client_secret_post and needs the secret and its expiry back",
                      run.fix(fixes.REGISTRATION))
    return passed(seen)


def _registration_problems(status: int, client: dict[str, Any]) -> list[str]:
    problems = []
    if status != 201:
        problems.append(f"HTTP {status}, not 201 (RFC 7591 §3.2.1)")
    if not client.get("client_secret"):
        problems.append("no client_secret for client_secret_post (the Python SDK refuses such a registration)")
    elif not isinstance(client.get("client_secret_expires_at"), int):
        problems.append("client_secret_expires_at is not an integer (RFC 7591 §3.2.1)")
    return problems


def authorize(run: Run) -> Outcome:
    """Claude's authorization request, up to the page a person would see."""
    document, client = run.facts.server_metadata, run.facts.client
    if document is None or client is None:
        return skipped("no registered client to try it with")
    _, challenge = pkce_pair()
    url = authorize_url(str(document["authorization_endpoint"]), str(client["client_id"]), CLAUDE_CALLBACKS[0],
                        challenge, secrets.token_urlsafe(16), run.facts.scope, canonical(run.target.url))
    reply = run.probe.request("GET", url, {"Accept": "text/html"})
    if reply.status == 200:
        return passed("Claude's request gets the login page (HTTP 200)")
    location = reply.header("location") or ""
    if 300 <= reply.status < 400 and location.startswith(CLAUDE_CALLBACKS[0]):
        error = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return failed(f"sent back to Claude with error={error.get('error')}: {error.get('error_description', '')}",
                      "the authorization server refuses Claude's request", run.fix(fixes.REGISTRATION))
    if 300 <= reply.status < 400:
        return passed(f"Claude's request leads to a login page at {origin_of(location) if '://' in location else location}")
    return failed(f"HTTP {reply.status}: {reply.excerpt()}", "the authorization server refuses Claude's request",
                  run.fix(fixes.REGISTRATION))


def token_endpoint(run: Run) -> Outcome:
    """A wrong code gets ``invalid_grant``; an unknown client ``401 invalid_client`` (so Claude re-registers)."""
    document, client = run.facts.server_metadata, run.facts.client
    if document is None or client is None:
        return skipped("no registered client to try it with")
    endpoint = str(document["token_endpoint"])
    form = {"grant_type": "authorization_code", "code": "vpsmcp-doctor-invalid-code",
            "redirect_uri": CLAUDE_CALLBACKS[0], "client_id": str(client["client_id"]),
            "code_verifier": pkce_pair()[0], "resource": canonical(run.target.url)}
    if client.get("client_secret"):
        form["client_secret"] = str(client["client_secret"])
    wrong_code = token_request(run.probe, endpoint, form)
    if wrong_code.status != 400 or oauth_error(wrong_code).split(":")[0] != "invalid_grant":
        return failed(f"a wrong code gets {oauth_error(wrong_code)}, not 400 invalid_grant",
                      "the token endpoint does not speak OAuth as clients expect (RFC 6749 §5.2)")
    unknown = token_request(run.probe, endpoint, {**form, "client_id": "vpsmcp-doctor-unknown-client",
                                                  "client_secret": "unknown"})
    if unknown.status != 401 or oauth_error(unknown).split(":")[0] != "invalid_client":
        return warned(f"an unknown client gets HTTP {unknown.status} {oauth_error(unknown)}",
                      "Claude registers again only on 401 invalid_client; otherwise a lost registration "
                      "leaves it stuck", run.fix(fixes.INVALID_CLIENT))
    return passed("a wrong code gets 400 invalid_grant, an unknown client 401 invalid_client")


OTHERS = ((CHATGPT, "ChatGPT", CHATGPT_CALLBACK), (CODEX, "Codex", CODEX_CALLBACK))


def other_clients(run: Run) -> Outcome:
    """Register as ChatGPT's connector and Codex do — their callbacks, the server's default auth — and
    see whether the server takes them; a refusal is that client's failure alone."""
    document = run.facts.server_metadata
    if document is None or run.facts.client is None:
        return skipped("no dynamic registration to try them with")
    refused, accepted = [], []
    for key, name, callback in OTHERS:
        reply = register(run.probe, str(document["registration_endpoint"]),
                         other_registration(name, callback, run.facts.scope))
        client = reply.json()
        if reply.status in (200, 201) and isinstance(client, dict) and client.get("client_id"):
            run.facts.other_clients[name] = client
            accepted.append(name)
        else:
            refused.append((key, f"{name}'s callback {callback}: {oauth_error(reply)}"))
    if refused:
        return warned("refused " + "; ".join(words for _, words in refused)
                      + (f" ({', '.join(accepted)} accepted)" if accepted else ""),
                      "ChatGPT registers https://chatgpt.com/connector/oauth/<id> (makeplane/plane-mcp-server#165); "
                      "Codex a loopback port with /callback/<id> (openai/codex#30460): a server that refuses "
                      "them shuts that client out", run.fix(fixes.REGISTRATION),
                      fatal_to=frozenset(key for key, _ in refused))
    return passed(f"{' and '.join(accepted)} register with their callbacks")


def clean_up(run: Run) -> Outcome:
    """Leave nothing behind: delete the doctor's registrations where the server offers RFC 7592, else say so."""
    clients = [("the doctor's registration as Claude", run.facts.client)] if run.facts.client else []
    clients += [(f"its registration as {name}", client) for name, client in run.facts.other_clients.items()]
    if not clients:
        return skipped("the doctor registered nothing")
    said = [delete_registration(run, client, what) for what, client in clients]
    words = "; ".join(said)
    if all(w.endswith(DELETED) for w in said):
        return passed(words)
    if all(w.endswith((DELETED, NO_DELETION)) for w in said):
        return skipped(words)
    return warned(words, "RFC 7592 §2.3 answers 204")


DELETED = "is deleted (RFC 7592)"
NO_DELETION = "stays on the server: it offers no way to delete one (RFC 7592)"


def delete_registration(run: Run, client: dict[str, Any], what: str) -> str:
    """Delete a registration of the doctor's by RFC 7592 §2.3; what became of it, in words."""
    uri, token = client.get("registration_client_uri"), client.get("registration_access_token")
    if not isinstance(uri, str) or not isinstance(token, str):
        return f"{what} {NO_DELETION}"
    reply = run.probe.request("DELETE", uri, {"Authorization": f"Bearer {token}"})
    if reply.status in (200, 204):
        return f"{what} {DELETED}"
    return f"deleting {what} at {uri}: HTTP {reply.status}, so it stays"


STEPS = (
    StepSpec(GROUP, "registration", registration),
    StepSpec(GROUP, "authorize", authorize),
    StepSpec(GROUP, "token endpoint", token_endpoint),
    StepSpec(GROUP, "ChatGPT, Codex", other_clients),
    StepSpec(GROUP, "clean up", clean_up),
)
