"""What an unexpected HTTP status from the MCP endpoint says about the set-up, and what to do."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urljoin

from vpsmcp.doctor import fixes
from vpsmcp.doctor.fixes import Fix
from vpsmcp.doctor.model import Outcome, failed
from vpsmcp.doctor.run import Run

CLOUDFLARE = Fix("let Claude's requests through: skip bot protection for the MCP paths, or allow the "
                 "user agent Claude-User and Anthropic's addresses (160.79.104.0/21)")


def refused(run: Run, what: str, status: int, header: Callable[[str], str | None], text: str) -> Outcome:
    """The failure of ``what`` (a request just sent) that got ``status``; ``header`` reads the answer's headers."""
    seen = f"{what}: HTTP {status}" + (f" {text[:100]!r}" if text and not 300 <= status < 400 else "")
    if 300 <= status < 400:
        where = urljoin(run.target.url, header("location") or "")
        return failed(f"{what}: HTTP {status} redirect to {where}",
                      "MCP clients do not follow redirects (a POST would lose its body)", run.fix(fixes.REDIRECT))
    if status == 403:
        if "cloudflare" in (header("server") or "").lower():
            return failed(seen, "Cloudflare's bot protection blocks Claude's user agent (Claude-User)",
                          run.fix(CLOUDFLARE))
        if "auth.mode" in text:
            return failed(seen, "vpsmcp runs without authentication and refuses requests that came through a proxy",
                          run.fix(fixes.PROXY_REFUSED))
        return failed(seen, "a request without a token must get 401 and a challenge, or clients never log in",
                      run.fix(fixes.PROXY_REFUSED))
    if status == 404:
        return failed(seen, f"nothing serves MCP at {run.target.path}", run.fix(fixes.NOT_FOUND))
    if status == 421:
        return failed(seen, f"the server does not answer for the host name {run.target.host}", run.fix(fixes.HOST))
    if status in (502, 503, 504):
        return failed(seen, "a proxy answered because the MCP server behind it did not", run.fix(fixes.UPSTREAM_DOWN))
    return failed(seen, "not an answer an MCP client can use")
