"""What to do about each failure: in general, and for vpsmcp the exact setting or nginx directive.

Texts may name ``{origin}``, ``{host}`` and ``{path}`` of the checked URL.
Settings are those of docs/CONFIGURATION.md; nginx directives those of the
site ``vpsmcp install`` writes (systemd/nginx-vpsmcp.conf).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fix:
    generic: str
    vpsmcp: str = ""


DNS = Fix(
    "publish an A record for {host} with the server's public IPv4 address: Claude connects over IPv4 only "
    "and refuses names that resolve to private addresses (use --local to check a development server)"
)
PORT = Fix(
    "serve the MCP endpoint on port 443: Claude's connector dials no other port",
    'serve it on https://{host}/ (port 443): nginx "listen 443 ssl;" in front, and server.public_url without a port',
)
CONNECT = Fix(
    "open the port in the firewall (ufw allow 443/tcp) and check that the web server listens on it",
    'open port 443 in the firewall (ufw allow 443/tcp) and check that nginx runs and has "listen 443 ssl;" '
    "(systemctl status nginx)",
)
HTTPS = Fix(
    "put TLS in front of the server: Claude connects to https URLs only",
    "put nginx with a certificate in front: vpsmcp install --public-url https://{host}",
)
CERT_NAME = Fix("use a certificate whose names include {host} (certbot certonly -d {host})")
CERT_CHAIN = Fix(
    "serve the whole chain, not just the server certificate (nginx: ssl_certificate .../fullchain.pem), "
    "from a public CA such as Let's Encrypt"
)
CERT_EXPIRY = Fix("renew the certificate (certbot renew) and check the renewal timer (systemctl status certbot.timer)")
CLOCK = Fix("synchronise the server's clock: timedatectl set-ntp true")
PUBLIC_URL = Fix(
    "build every URL in the discovery documents and the WWW-Authenticate header from the public URL clients "
    "use ({origin}), not from the address the server listens on",
    'set server.public_url = "{origin}" in vpsmcp.toml (or serve --public-url {origin}) and restart vpsmcp',
)
CHALLENGE = Fix(
    "answer every request without a token with 401 and "
    'WWW-Authenticate: Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource{path}" '
    "(MCP authorization, RFC 9728 §5.1)",
    "vpsmcp sends this header with every 401, so something in front removes it: drop "
    '"proxy_hide_header WWW-Authenticate;" from the nginx site, or the gateway rule that strips or renames it',
)
AUTH_OFF = Fix(
    "require OAuth unless the server is meant for anyone who knows its URL",
    'set auth.mode = "oauth" (the default) and start serve without --no-auth',
)
PROXY_REFUSED = Fix(
    "answer requests without a token with 401 and a WWW-Authenticate challenge, not 403",
    'auth.mode = "none" serves loopback only and refuses proxied requests: set auth.mode = "oauth"',
)
UPSTREAM_DOWN = Fix(
    "the proxy in front cannot reach the MCP server: check that it runs and where the proxy sends requests",
    "nginx cannot reach vpsmcp: check systemctl status vpsmcp, and that proxy_pass names server.listen:server.port",
)
HOST = Fix(
    "make the server accept the Host {host}",
    'set server.public_url = "{origin}" (vpsmcp answers 421 to any other Host) and keep '
    '"proxy_set_header Host $host;" in the nginx site',
)
NOT_FOUND = Fix(
    "check the URL: this path serves no MCP endpoint",
    'vpsmcp serves /mcp: use {origin}/mcp, and let nginx pass every path ("location / {{ proxy_pass …; }}")',
)
REDIRECT = Fix("give clients the final URL, and serve it without a redirect: MCP clients do not follow them")
DISCOVERY_PATHS = Fix(
    "serve the discovery documents at the well-known paths clients try (RFC 9728 §3, RFC 8414 §3)",
    'let nginx pass /.well-known/ to vpsmcp ("location / {{ proxy_pass …; }}"; only acme-challenge is served by nginx)',
)
AUTHLESS_DISCOVERY = Fix(
    "an MCP server without authentication must answer 404 on every discovery path; stub documents make "
    "Claude try to register and fail"
)
ISSUER = Fix(
    "make the metadata's issuer byte-identical to authorization_servers[0] of the resource metadata "
    "(RFC 8414 §3.3), trailing slash included",
    'set server.public_url = "{origin}" (vpsmcp derives both from it) and let no proxy rewrite the documents',
)
S256 = Fix('advertise code_challenge_methods_supported: ["S256"] and accept S256 challenges')
REGISTRATION = Fix(
    "offer dynamic client registration (RFC 7591) or client ID metadata documents, and accept Claude's "
    "callbacks https://claude.ai/api/mcp/auth_callback and https://claude.com/api/mcp/auth_callback"
)
INVALID_CLIENT = Fix("answer an unknown client_id at the token endpoint with 401 invalid_client, so Claude registers again")
DISCOVER = Fix(
    "answer server/discover at once: with its result (2026-07-28), or with HTTP 400 and a JSON-RPC error "
    "such as -32600 if the server speaks only the handshake era — never by waiting",
    "a proxy holds the request: vpsmcp answers server/discover at once; check nginx's proxy_buffering and timeouts",
)
METHOD_NOT_FOUND = Fix(
    "a handshake-only server should answer server/discover with HTTP 400 and -32600: some clients "
    "(Claude Code, claude-ai-mcp#1044) stall on -32601"
)
SESSION_UNKNOWN = Fix(
    "answer an unknown or expired Mcp-Session-Id with 404 (basic/transports: MUST), so clients start a new session"
)
SESSION_MISSING = Fix("answer a request without Mcp-Session-Id (other than initialize) with 400")
BUFFERING = Fix(
    "send event streams through unbuffered: the proxy or CDN in front must pass text/event-stream as it is "
    "written (send X-Accel-Buffering: no; nginx: proxy_buffering off; gzip off)",
    'in the nginx location that proxies to vpsmcp: "proxy_buffering off;" and "gzip off;", and no '
    '"proxy_ignore_headers X-Accel-Buffering;" (vpsmcp sends X-Accel-Buffering: no); a CDN or tunnel in '
    "front (Cloudflare Tunnel) must not buffer text/event-stream either",
)
GZIP = Fix(
    "never compress text/event-stream (nginx: gzip off; or gzip_types without text/event-stream)",
    'nginx: "gzip off;" in the location that proxies to vpsmcp',
)
HEARTBEAT = Fix(
    "send an SSE comment (': keep-alive') on idle streams every 15 s, below every proxy's idle timeout",
    "lower mcp.heartbeat below the proxy's idle timeout, and keep nginx's proxy_read_timeout far above it",
)
READ_TIMEOUT = Fix(
    "keep the proxy's idle timeout for event streams far above the server's keep-alive interval "
    "(nginx: proxy_read_timeout 3600s), and send keep-alives more often than it",
    'nginx: "proxy_read_timeout 3600s;" in the location that proxies to vpsmcp (vpsmcp install writes it), '
    "or mcp.heartbeat below the proxy's timeout",
)
LEGACY_PATH = Fix(
    "",
    'let nginx pass /sse and /messages to vpsmcp ("location / {{ proxy_pass …; }}")',
)
WEBSOCKET = Fix(
    "let the proxy pass WebSocket upgrades",
    'nginx: "proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;" and '
    '"proxy_set_header Connection $vpsmcp_connection;" (or "upgrade") in the location for vpsmcp',
)
