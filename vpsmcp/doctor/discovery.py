"""Discovery: the unauthenticated 401 and the documents it leads to.

MCP authorization (2025-06-18 on): a request without a token gets 401 with
``WWW-Authenticate: Bearer resource_metadata="…"`` (RFC 9728 §5.1); that
protected resource metadata names the authorization server, whose RFC 8414
metadata must carry the same issuer and advertise S256. Claude requires the
resource metadata (since 2026-01) and an absolute URL to it (claude-ai-mcp#136).
A server without authentication must answer 404 on every discovery path.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from vpsmcp.doctor import fixes, rpc
from vpsmcp.doctor.challenge import bearer_of
from vpsmcp.doctor.model import CLAUDE, Outcome, failed, passed, skipped, warned
from vpsmcp.doctor.refusals import refused
from vpsmcp.doctor.run import Run, StepSpec
from vpsmcp.doctor.target import canonical, host_of, is_internal_host, origin_of

GROUP = "discovery"
PRM = "/.well-known/oauth-protected-resource"
AS_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


def challenge(run: Run) -> Outcome:
    """POST initialize without a token, as Claude's first request: 401 with a challenge, or open."""
    answer = rpc.post(run.probe, run.target.url, rpc.initialize())
    if answer.status == 401:
        return _challenge(run, answer.header("www-authenticate"))
    if answer.status == 200 and answer.result is not None:
        run.facts.auth = "none"
        if session := answer.header("mcp-session-id"):
            run.probe.open("DELETE", run.target.url, {"Mcp-Session-Id": session}).close()
        return warned("initialize succeeded without a token: no authentication",
                      "Claude connects without login — and so can anyone who knows the URL", run.fix(fixes.AUTH_OFF))
    return refused(run, "initialize without a token", answer.status, answer.header, answer.text)


def _challenge(run: Run, header: str | None) -> Outcome:
    t = run.target
    if not header:
        return failed("401 without WWW-Authenticate",
                      "clients cannot find out where to log in, so the connection fails before any login",
                      run.fix(fixes.CHALLENGE))
    bearer = bearer_of(header)
    if bearer is None:
        return failed(f"401 with WWW-Authenticate: {header[:80]} (no Bearer challenge)",
                      "MCP clients follow only a Bearer challenge", run.fix(fixes.CHALLENGE))
    run.facts.auth, run.facts.challenge = "oauth", bearer
    url = bearer.params.get("resource_metadata")
    scope = bearer.params.get("scope")
    others = _other_requests(run)
    if not url:
        # MCP 2025-11-25 lets clients fall back to the well-known URL (the official SDKs do; the resource
        # metadata step tries it), but Claude's connector never starts the login (garrytan/gbrain#1410).
        return warned(f"401 with WWW-Authenticate: {header[:80]} (no resource_metadata)"
                      + "".join(f"; {o}" for o in others),
                      "Claude's connector needs resource_metadata in the challenge to start the login "
                      "(garrytan/gbrain#1410); the official SDKs look at the well-known URL instead",
                      run.fix(fixes.CHALLENGE), fatal_to=frozenset({CLAUDE}))
    if not urlsplit(url).scheme or not urlsplit(url).netloc:
        return failed(f"resource_metadata={url!r} is not an absolute URL",
                      "Claude needs an absolute URL (claude-ai-mcp#136), and the official Python SDK requests "
                      "it as it is and fails", run.fix(fixes.CHALLENGE))
    run.facts.metadata_url = url
    if origin_of(url) != origin_of(t.url):
        return failed(f"resource_metadata points at {origin_of(url)}, not at {t.origin}",
                      _foreign_cause(url), run.fix(fixes.PUBLIC_URL))
    seen = f"401 with resource_metadata={url}" + (f', scope="{scope}"' if scope else "")
    if others:
        return warned(f"{seen}; but {'; '.join(others)}",
                      "Claude opens with server/discover and mcp-remote probes with GET: each must get 401 "
                      "to start the login", run.fix(fixes.CHALLENGE))
    return passed(seen)


def _other_requests(run: Run) -> list[str]:
    """The other first requests clients send: a 2026-07-28 ``server/discover`` and a GET."""
    problems = []
    body, headers = rpc.modern(1, "server/discover")
    discover = rpc.post(run.probe, run.target.url, body, headers)
    if discover.status != 401 or not bearer_of(discover.header("www-authenticate")):
        problems.append(f"server/discover without a token gets {discover.describe()}")
    opened = run.probe.open("GET", run.target.url, {"Accept": "text/event-stream"})
    opened.close()
    if opened.status != 401:
        problems.append(f"GET without a token gets HTTP {opened.status}")
    return problems


def _foreign_cause(url: str) -> str:
    if is_internal_host(host_of(url)):
        return "the server builds its URLs from the address it listens on, which no client can use"
    return "the metadata belongs to another origin than the URL clients were given"


def resource_metadata(run: Run) -> Outcome:
    """RFC 9728: the document at the challenge's URL (else the well-known ones, as clients try)."""
    if run.facts.auth == "none":
        return _authless(run)
    if run.facts.auth != "oauth":
        return skipped("no challenge to follow")
    t = run.target
    candidates = list(dict.fromkeys(u for u in (run.facts.metadata_url, t.at(PRM + t.path), t.at(PRM)) if u))
    tried = []
    for url in candidates:
        reply = run.probe.request("GET", url, {"Accept": "application/json"})
        document = reply.json()
        if reply.status == 200 and isinstance(document, dict):
            break
        tried.append(f"{url} → HTTP {reply.status}")
    else:
        return failed("no resource metadata: " + "; ".join(tried),
                      "clients cannot find the authorization server", run.fix(fixes.DISCOVERY_PATHS))
    run.facts.resource_metadata = document
    if document.get("resource_name") == "vpsmcp" and run.facts.vpsmcp is None:
        run.facts.vpsmcp = ""
    return _judge_resource(run, url, document)


def _judge_resource(run: Run, url: str, document: dict[str, Any]) -> Outcome:
    t = run.target
    resource, servers = document.get("resource"), document.get("authorization_servers")
    if not isinstance(resource, str) or not resource:
        return failed(f"{url} has no resource", "clients check it against the URL they were given (RFC 9728 §3.3)")
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
        return failed(f"{url} names no authorization_servers", "clients cannot find where to log in")
    run.facts.issuer = servers[0]
    if canonical(resource) != canonical(t.url):
        if origin_of(resource) == origin_of(t.url) and t.path.startswith(urlsplit(canonical(resource)).path + "/"):
            return warned(f"resource {resource} is a parent of {t.url}",
                          "RFC 9728 wants the exact URL; the Python SDK accepts a parent, other clients may not",
                          f"set resource to {t.url}")
        return failed(f"resource is {resource}, not {t.url}",
                      _foreign_cause(resource) + "; clients refuse metadata for another resource",
                      run.fix(fixes.PUBLIC_URL))
    if problem := _unusable(run, servers[0]):
        return failed(f"authorization server {servers[0]}: {problem}", _foreign_cause(servers[0]),
                      run.fix(fixes.PUBLIC_URL))
    if "offline_access" in (document.get("scopes_supported") or []):
        return warned("scopes_supported lists offline_access", "MCP 2026-07-28: servers SHOULD NOT advertise it",
                      "leave offline_access out of the resource metadata and the challenge")
    return passed(f"resource {resource}, authorization server {servers[0]}")


def _unusable(run: Run, url: str) -> str | None:
    """Why a URL in a discovery document cannot serve Claude, or ``None``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "not an absolute URL"
    if is_internal_host(parts.hostname or "") and not is_internal_host(run.target.host):
        return "an address only the server itself can reach"
    if parts.scheme != "https" and not run.options.local:
        return "http, not https"
    return None


def _authless(run: Run) -> Outcome:
    """Without authentication, every discovery path must be 404 (claude-ai-mcp#1017)."""
    t = run.target
    paths = list(dict.fromkeys([PRM + t.path, PRM, *AS_PATHS]))
    statuses = {path: run.probe.request("GET", t.at(path), {"Accept": "application/json"}).status for path in paths}
    served = [p for p, s in statuses.items() if s == 200]
    if served:
        return failed(f"{', '.join(served)} answer 200 although the endpoint needs no token",
                      "Claude then tries to log in and fails to register", run.fix(fixes.AUTHLESS_DISCOVERY))
    odd = [f"{p} → HTTP {s}" for p, s in statuses.items() if s != 404]
    if odd:
        return warned("; ".join(odd), "a server without authentication should answer 404 there",
                      run.fix(fixes.AUTHLESS_DISCOVERY))
    return passed("none: every discovery path answers 404, as it must without authentication")


def metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 and OIDC discovery, in the order MCP clients try them (2025-11-25)."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    if not path:
        return [origin + p for p in AS_PATHS]
    return [origin + AS_PATHS[0] + path, origin + AS_PATHS[1] + path, origin + path + AS_PATHS[1]]


def server_metadata(run: Run) -> Outcome:
    if run.facts.auth == "none":
        return skipped("no authentication")
    if not run.facts.issuer:
        return skipped("no authorization server named (see above)")
    results = []
    for url in metadata_urls(run.facts.issuer):
        reply = run.probe.request("GET", url, {"Accept": "application/json", "MCP-Protocol-Version": rpc.MODERN_VERSION})
        results.append((url, reply.status))
        if reply.status == 200 and isinstance(reply.json(), dict):
            run.facts.server_metadata = reply.json()
            break
    shown = "; ".join(f"{url} → HTTP {status}" for url, status in results)
    if run.facts.server_metadata is None:
        return failed(f"no authorization server metadata: {shown}",
                      "clients cannot find the authorize and token endpoints", run.fix(fixes.DISCOVERY_PATHS))
    first_url, first_status = results[0]
    if 300 <= first_status < 400:
        return failed(shown, "the official Python SDK 1.x (whose behaviour Claude's matches) stops at a redirect",
                      run.fix(fixes.REDIRECT))
    if first_status != 200:
        return warned(shown, f"clients of the 2025-03-26 spec look only at {first_url}", run.fix(fixes.DISCOVERY_PATHS))
    return passed(f"at {first_url}")


def issuer(run: Run) -> Outcome:
    document, expected = run.facts.server_metadata, run.facts.issuer
    if document is None or expected is None:
        return skipped("no metadata to compare")
    found = document.get("issuer")
    if found == expected:
        return passed(f"issuer {found} is the one the resource metadata names")
    cause = ("clients refuse metadata whose issuer is not the URL they looked it up by "
             "(RFC 8414 §3.3; MCP 2026-07-28); the official Python SDK 2.x compares byte for byte")
    if isinstance(found, str) and found.rstrip("/") == expected.rstrip("/"):
        return failed(f"issuer {found!r} but authorization_servers[0] {expected!r}: a trailing slash apart",
                      cause, run.fix(fixes.ISSUER))
    return failed(f"issuer {found!r} but authorization_servers[0] {expected!r}", cause, run.fix(fixes.ISSUER))


def pkce(run: Run) -> Outcome:
    document = run.facts.server_metadata
    if document is None:
        return skipped("no metadata")
    methods = document.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        shown = "absent" if methods is None else repr(methods)
        return failed(f"code_challenge_methods_supported is {shown}",
                      "MCP clients must use S256 and refuse to log in when it is not advertised (2025-11-25)",
                      run.fix(fixes.S256))
    for key in ("authorization_endpoint", "token_endpoint"):
        url = document.get(key)
        if not isinstance(url, str) or (problem := _unusable(run, url)):
            problem = "missing" if not isinstance(url, str) else problem
            return failed(f"{key} {url or ''}: {problem}", "clients cannot log in", run.fix(fixes.PUBLIC_URL))
    return passed(f"S256; authorize at {document['authorization_endpoint']}, tokens at {document['token_endpoint']}")


STEPS = (
    StepSpec(GROUP, "401 challenge", challenge),
    StepSpec(GROUP, "resource metadata", resource_metadata),
    StepSpec(GROUP, "server metadata", server_metadata),
    StepSpec(GROUP, "issuer", issuer),
    StepSpec(GROUP, "PKCE and endpoints", pkce),
)
