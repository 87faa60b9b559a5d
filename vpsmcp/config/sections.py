"""The configuration: one TOML file, parsed once into frozen, typed objects.

Every setting is declared exactly once, below, as a dataclass field with its
default, its documentation and its check. That one declaration drives
parsing, validation, the file ``init`` writes, and ``docs/CONFIGURATION.md``
(a test holds the two together). Unknown keys, wrong types and bad values
raise ``ConfigError`` naming the file, the key path and what was expected:
a typo is never silently ignored.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomli_w

from vpsmcp.config import settings
from vpsmcp.config.settings import decode_section, encode, replace_setting, setting
from vpsmcp.errors import ConfigError
from vpsmcp.tool_names import GROUPS, unknown

DEFAULT_PORT = 8765
INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "a port number from 0 to 65535 (0: any free port)"


def _address(value: str) -> str | None:
    if value == "localhost":
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "an IP address such as 127.0.0.1, ::1 or 0.0.0.0"
    return None


def _public_url(value: str) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an absolute http(s) URL such as https://mcp.example.com"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "the URL of the host alone, with no path, query or fragment (serve vpsmcp at the root)"
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else "a number greater than 0"


def _secret(value: str) -> str | None:
    if value == "" or len(value) >= 32:
        return None
    return "at least 32 characters (or empty to keep a generated one in the state directory)"


def _instance_name(value: str) -> str | None:
    if value == "" or INSTANCE_NAME.fullmatch(value):
        return None
    return "1 to 32 lower-case letters, digits, '-' or '_', starting with a letter or digit (or empty)"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``: where vpsmcp listens and keeps its state."""

    listen: str = setting(
        "127.0.0.1",
        "Address to listen on. Keep the loopback default behind a reverse proxy.",
        _address,
    )
    port: int = setting(DEFAULT_PORT, "TCP port to listen on; 0 picks any free port.", _port)
    public_url: str = setting(
        "",
        "The https URL clients use to reach this server (no path). Empty: http://LISTEN:PORT.",
        _public_url,
    )
    state_dir: str = setting(
        "",
        "Directory for tokens, sessions and logs. Empty: $XDG_DATA_HOME/vpsmcp or ~/.local/share/vpsmcp.",
    )
    shutdown_timeout: float = setting(
        10.0, "Seconds in-flight requests get to finish after SIGTERM or SIGINT.", _positive
    )
    keep_alive_timeout: float = setting(
        5.0,
        "Seconds an idle keep-alive connection is kept open. hypercorn holds a connection's descriptor "
        "this long even after the client has closed it, so a long one runs out of descriptors under "
        "many short connections.",
        _positive,
    )
    instance: str = setting(
        "",
        "This instance's name when several vpsmcp share one state directory: its audit log, trace, saved "
        "sessions and upstream status are kept apart in STATE_DIR/instances/NAME, and its audit records name "
        "it. Empty: the only one (those files in STATE_DIR itself).",
        _instance_name,
    )


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``[log]``: what vpsmcp writes to stderr."""

    format: Literal["text", "json"] = setting(
        "text", "text: one readable line per event; json: one JSON object per line."
    )
    level: Literal["debug", "info", "warning", "error"] = setting(
        "info", "The least severe level written."
    )
    access: bool = setting(True, "Write one access-log line per HTTP request.")


def _https_url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return "an https URL"
    return None if parts.scheme == "https" and parts.hostname else "an https URL"


def _command_patterns(value: tuple[str, ...]) -> str | None:
    for pattern in value:
        try:
            if not shlex.split(pattern):
                return "non-empty command patterns"
        except ValueError:
            return "command patterns with balanced quotes"
    return None


def _ip_addresses(value: tuple[str, ...]) -> str | None:
    for address in value:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return "IP addresses such as 127.0.0.1"
    return None


def _at_least_one(value: float) -> str | None:
    return None if value >= 1 else "a number of at least 1"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``[auth]``: who may use the MCP endpoint, and the authorization server's secrets."""

    mode: Literal["oauth", "none"] = setting(
        "oauth",
        "oauth: every MCP request needs a token from vpsmcp's own authorization server. "
        "none: no authentication, for local development only (loopback, never through a proxy).",
    )
    secret_key: str = setting(
        "",
        "Key that signs forms and CSRF tokens. Empty: generated once and kept in the state directory.",
        _secret,
    )
    access_token_lifetime: float = setting(
        30 * 86400.0,
        "Seconds an access token is valid. Long by default: Claude's connector may never refresh.",
        _positive,
    )
    refresh_token_lifetime: float = setting(
        90 * 86400.0, "Seconds a refresh token stays valid without being used (each use renews it).", _positive
    )
    refresh_grace: float = setting(
        60.0,
        "Seconds in which a just-rotated refresh token still works once (clients that refresh twice at once).",
        _positive,
    )
    registration_ttl: float = setting(
        86400.0, "Seconds a dynamically registered client that never obtained a token is kept.", _positive
    )
    registrations_per_address: int = setting(
        30, "Dynamic registrations one client address may make in 10 minutes; more get 429 with Retry-After.",
        _at_least_one,
    )
    registrations_overall: int = setting(
        300, "Dynamic registrations from all addresses together in 10 minutes; more get 429 with Retry-After.",
        _at_least_one,
    )
    max_unused_registrations: int = setting(
        500,
        "Registrations kept that never obtained a token; past it the oldest dynamic ones are dropped.",
        _at_least_one,
    )
    client_metadata: Literal["auto", "on", "off"] = setting(
        "auto",
        "Client ID metadata documents (a URL as client_id, which Claude prefers when offered). auto: offered "
        "only while this server has shown it can fetch one (client_metadata_probe, checked at start and every "
        "few hours), so clients register dynamically otherwise; on: always offered; off: never.",
    )
    client_metadata_probe: str = setting(
        "https://claude.ai/oauth/mcp-oauth-client-metadata",
        "The document auto mode fetches to learn whether this server can reach client metadata documents "
        "(Claude's published one).",
        _https_url,
    )
    client_metadata_private_hosts: bool = setting(
        False,
        "Fetch client ID metadata documents from hosts that resolve to private or loopback addresses.",
    )
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "Addresses of reverse proxies whose X-Forwarded-For names the real client (for the login rate limit).",
        _ip_addresses,
    )


def _origins(value: tuple[str, ...]) -> str | None:
    for origin in value:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            return "origins such as https://claude.ai (scheme and host, no path)"
    return None


@dataclass(frozen=True, slots=True)
class McpConfig:
    """``[mcp]``: the MCP endpoint and its sessions."""

    instructions: str = setting("", "Text sent to clients as the server's instructions. Empty: none.")
    page_size: int = setting(100, "Items per page of tools/list, resources/list and prompts/list.", _at_least_one)
    heartbeat: float = setting(
        15.0, "Seconds between keep-alive comments on an idle event stream (below every proxy timeout).", _positive
    )
    session_idle_timeout: float = setting(
        1800.0, "Seconds a handshake-era session lives without a request before it expires.", _positive
    )
    max_sessions: int = setting(
        1000, "Most sessions at once; an initialize beyond it gets 503 until one ends.", _at_least_one
    )
    max_sessions_per_credential: int = setting(
        50,
        "Most sessions one grant (one token family) holds; a new one beyond it ends that grant's "
        "longest-idle session, so one client can never fill max_sessions for everyone.",
        _at_least_one,
    )
    max_sessions_per_client: int = setting(
        200,
        "Most sessions all the grants of one registered client hold together; a new one beyond it ends "
        "that client's longest-idle session.",
        _at_least_one,
    )
    max_body_bytes: int = setting(4 * 1024 * 1024, "Largest request body accepted; larger gets 413.", _at_least_one)
    allowed_origins: tuple[str, ...] = setting(
        ("https://claude.ai", "https://claude.com"),
        "Browser origins allowed besides the server's own; any other Origin header gets 403.",
        _origins,
    )


@dataclass(frozen=True, slots=True)
class PluginsConfig:
    """``[plugins]``: Python modules that add tools, resources and prompts."""

    modules: tuple[str, ...] = setting((), "Module names, or paths to .py files, each defining `plugin = Plugin()`.")
    paths: tuple[str, ...] = setting((), "Directories added to the import path before loading modules.")


UPSTREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
UPSTREAM_ASKS = ("sampling", "elicitation", "roots")
# Headers the gateway's HTTP client sets itself; a static header must not replace them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "accept",
     "mcp-session-id", "mcp-protocol-version", "last-event-id"}
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_TOOL_NAME_PART = re.compile(r"[A-Za-z0-9_.-]*\Z")


def _upstream_name(value: str) -> str | None:
    return None if UPSTREAM_NAME.match(value) else "a name of up to 64 letters, digits, '-' and '_'"


def _upstream_url(value: str) -> str | None:
    if value == "":
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return "an absolute http(s) URL"
    return None if parts.scheme in ("http", "https") and parts.hostname else "an absolute http(s) URL"


def _nonempty_items(value: tuple[str, ...]) -> str | None:
    return None if all(value) else "a list of non-empty strings"


def _env(value: Mapping[str, str]) -> str | None:
    bad = [name for name in value if not name or "=" in name or "\0" in name]
    return f"variable names without '=' (not {bad[0]!r})" if bad else None


def _headers(value: Mapping[str, str]) -> str | None:
    for name, text in value.items():
        if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            return f"header names the gateway does not set itself (not {name!r})"
        if any(c in text for c in "\r\n\0"):
            return f"header values on one line (not the value of {name!r})"
    return None


def _prefix(value: str) -> str | None:
    ok = _TOOL_NAME_PART.match(value.replace("{name}", "x"))
    return None if ok else "letters, digits, '_', '-', '.' and {name} (empty: no prefix)"


def _asks(value: tuple[str, ...]) -> str | None:
    return None if set(value) <= set(UPSTREAM_ASKS) else "a list of " + ", ".join(UPSTREAM_ASKS)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """``[upstreams.NAME]``: an MCP server of the owner's, put behind vpsmcp's endpoint."""

    argv: tuple[str, ...] = setting(
        (), 'A stdio server\'s command, as a list: ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv"].',
        _nonempty_items,
    )
    env: Mapping[str, str] = setting(
        {}, "Environment of the command, added to PATH, HOME, LANG, LC_ALL, TZ and USER (nothing else is passed on).",
        _env,
    )
    cwd: str = setting("", "Working directory of the command. Empty: vpsmcp's own.")
    url: str = setting("", "Instead of argv: the URL of an HTTP MCP server.", _upstream_url)
    transport: Literal["auto", "stdio", "streamable-http", "sse"] = setting(
        "auto", "auto: stdio for argv, Streamable HTTP for url; sse: the 2024-11-05 HTTP+SSE transport at url."
    )
    headers: Mapping[str, str] = setting(
        {}, "Static headers sent to a url upstream, e.g. its own API key. A client's token is never passed on.",
        _headers,
    )
    prefix: str = setting(
        "{name}__", "Put before the upstream's tool and prompt names; {name} is the upstream's name. Empty: none.",
        _prefix,
    )
    allow: tuple[str, ...] = setting((), "Tools offered, as shell patterns on the upstream's names. Empty: all.")
    deny: tuple[str, ...] = setting((), "Tools hidden, as shell patterns on the upstream's names.")
    asks: tuple[str, ...] = setting(
        ("sampling", "elicitation"),
        "What the upstream may ask the connected client: sampling, elicitation, roots "
        "(roots are paths on the client's machine: off unless the server needs them).",
        _asks,
    )
    start: Literal["lazy", "boot"] = setting(
        "lazy", "lazy: start on the first MCP request that needs it; boot: when vpsmcp starts."
    )
    start_timeout: float = setting(30.0, "Seconds to start the upstream and finish its initialize.", _positive)
    request_timeout: float = setting(300.0, "Seconds one call to the upstream may take.", _positive)
    list_timeout: float = setting(
        5.0, "Seconds after the upstream begins starting during which list requests wait for it; later "
        "ones answer without it (clients hear list_changed when it is ready). Calls naming its tools wait "
        "for its start (start_timeout); nothing else waits for it.", _positive
    )

    def section_problem(self) -> tuple[str, str] | None:
        """(key, what was expected) when the settings contradict each other."""
        if bool(self.argv) == bool(self.url):
            return "argv", "either argv (a stdio command) or url (an HTTP server), not both and not neither"
        if self.argv and self.transport not in ("auto", "stdio"):
            return "transport", f"'auto' or 'stdio' for a command, got {self.transport!r}"
        if self.url and self.transport == "stdio":
            return "transport", "'auto', 'streamable-http' or 'sse' for a url, got 'stdio'"
        if self.argv and self.headers:
            return "headers", "headers only for a url upstream (a command gets env)"
        if self.url and (self.env or self.cwd):
            return ("env" if self.env else "cwd"), "env and cwd only for a command (a url upstream gets headers)"
        return None


def _tool_names(value: tuple[str, ...]) -> str | None:
    bad = unknown(value)
    return f"names of built-in tools or groups ({', '.join(GROUPS)}), not {bad[0]!r}" if bad else None


def _absolute_dirs(value: tuple[str, ...]) -> str | None:
    for path in value:
        if not path.startswith("/") or ".." in path.split("/") or "\0" in path:
            return f"absolute paths without '..' (not {path!r})"
    return None


def _absolute_or_empty(value: str) -> str | None:
    return None if value == "" or value.startswith("/") else "an absolute path, or empty"


def _unit_names(value: tuple[str, ...]) -> str | None:
    bad = [name for name in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9@._:-]*", name)]
    return f"systemd unit names such as nginx or app.service, not {bad[0]!r}" if bad else None


@dataclass(frozen=True, slots=True)
class ToolsConfig:
    """``[tools]``: the built-in tools for operating the machine."""

    disabled: tuple[str, ...] = setting(
        (), "Built-in tools or whole groups switched off: neither listed nor callable (e.g. [\"containers\"]).",
        _tool_names,
    )
    roots: tuple[str, ...] = setting(
        (),
        "Directories the files tools, logs_tail and exec's working directory are confined to. "
        "Empty: none, and those tools refuse.",
        _absolute_dirs,
    )
    timeout: float = setting(30.0, "Seconds a tool may take (systemctl, journalctl, docker, searches).", _positive)
    output_limit: int = setting(
        65536, "Most characters of output one call returns; the rest is cut, with a marker saying how to page.",
        _at_least_one,
    )
    max_read_bytes: int = setting(
        1024 * 1024, "Most bytes files_read and logs_tail read in one call; larger reads are refused.", _at_least_one
    )
    backups: bool = setting(True, "Copy a file to the backup directory before files_write or files_delete change it.")
    backup_dir: str = setting("", "Where backups go. Empty: STATE_DIR/backups.", _absolute_or_empty)
    exec_enabled: bool = setting(False, "Offer the exec tool (it also needs the vps:exec scope).")
    exec_allow_shell: bool = setting(
        False, "Let exec run a command line through /bin/sh (pipes, redirections). Off: argv only, no shell."
    )
    exec_allow: tuple[str, ...] = setting(
        (),
        "Commands exec may run: a command line of shell patterns, matched argument by argument, a last * "
        "standing for any further arguments (\"git *\", \"cat /srv/*\"; paths are normalised first, so .. "
        "cannot climb out). Empty: any command.",
        _command_patterns,
    )
    exec_timeout: float = setting(60.0, "Seconds an exec call runs unless it asks for another limit.", _positive)
    exec_max_timeout: float = setting(3600.0, "The longest limit an exec call may ask for, in seconds.", _positive)
    container_cli: Literal["auto", "docker", "podman"] = setting(
        "auto", "The container CLI the containers tools use; auto: docker, else podman."
    )
    services_allow: tuple[str, ...] = setting(
        (),
        "Services services_control may start, stop, restart and reload (\"nginx\", \"app.service\"); "
        "`vpsmcp install` grants exactly these through polkit. Empty: none.",
        _unit_names,
    )


def _redis_url(value: str) -> str | None:
    if value == "" or value.split("://", 1)[0] in ("redis", "rediss", "unix") and "://" in value:
        return None
    return "a redis://, rediss:// or unix:/// URL (or empty)"


def _key_prefix(value: str) -> str | None:
    if value and all(c.isascii() and c.isprintable() and c != " " for c in value):
        return None
    return "a key prefix of printable ASCII, no spaces"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """``[store]``: where the OAuth clients, grants and tokens are kept."""

    backend: Literal["sqlite", "files", "redis"] = setting(
        "sqlite",
        "sqlite: STATE_DIR/oauth.sqlite3, safe for several processes (an oauth.json found beside it moves in once); "
        "files: STATE_DIR/oauth.json, rewritten whole on every change; redis: the Redis or Valkey server at "
        "store.url, shared by instances on several machines. Move between them with `vpsmcp store migrate`.",
    )
    url: str = setting(
        "",
        "With backend = \"redis\": redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://… for TLS, or "
        "unix:///PATH/redis.sock[?db=N]. The password is never logged.",
        _redis_url,
    )
    prefix: str = setting("vpsmcp", "With backend = \"redis\": the start of every key (PREFIX:…), so one "
                          "server can hold several stores.", _key_prefix)


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """``[audit]``: the hash-chained log of every tool call (STATE_DIR/audit.jsonl)."""

    max_bytes: int = setting(
        10 * 1024 * 1024, "Size at which audit.jsonl is rotated to audit.jsonl.1 (the chain goes on).", _at_least_one
    )
    keep: int = setting(10, "Rotated audit files kept; older ones are deleted.", _at_least_one)


@dataclass(frozen=True, slots=True)
class TraceConfig:
    """``[trace]``: the connection trace (STATE_DIR/trace.jsonl, read by `vpsmcp logs`)."""

    flows: int = setting(200, "Connection flows kept in memory for the status page; the oldest go first.", _at_least_one)
    max_bytes: int = setting(
        5 * 1024 * 1024, "Size at which trace.jsonl is rotated to trace.jsonl.1.", _at_least_one
    )
    keep: int = setting(3, "Rotated trace files kept; older ones are deleted.", _at_least_one)


def _metrics_token(value: str) -> str | None:
    if value == "" or len(value) >= 32:
        return None
    return "at least 32 characters (or empty to serve /metrics to loopback only)"


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: Prometheus metrics at /metrics."""

    enabled: bool = setting(False, "Serve /metrics (Prometheus text format). Off: /metrics is 404.")
    token: str = setting(
        "",
        "Bearer token a scraper must send (Authorization: Bearer TOKEN). Empty: /metrics answers only "
        "requests from loopback that came through no proxy (no X-Forwarded-For or Forwarded header).",
        _metrics_token,
    )


@dataclass(frozen=True, slots=True)
class StatusConfig:
    """``[status]``: the owner's status page at /status (log in with the owner password)."""

    login_lifetime: float = setting(
        12 * 3600.0, "Seconds a status-page login lasts; changing the owner password ends every login.", _positive
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``Config()`` is the embedded default."""

    server: ServerConfig = field(default_factory=ServerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    mcp: McpConfig = field(default_factory=McpConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    trace: TraceConfig = field(default_factory=TraceConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    upstreams: Mapping[str, UpstreamConfig] = setting(
        {}, "The gateway's upstream MCP servers, one table each: [upstreams.NAME].", _upstream_name
    )


def load_config(path: Path) -> Config:
    """Read and validate the TOML file at ``path``."""
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot be read: {exc}") from None
    return parse_config(text, source)


def parse_config(text: str, source: str) -> Config:
    """Parse TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    return decode_section(Config, data, source, "")


def dump_config(config: Config) -> str:
    """The TOML text of ``config`` with every setting spelled out."""
    return tomli_w.dumps(encode(config))


def iter_settings(cls: type[Any] = Config, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field[Any]]]:
    """Every setting as (dotted key path, field), in declaration order."""
    return settings.iter_settings(cls, prefix)


def with_overrides(config: Config, overrides: Mapping[str, Any], source: str) -> Config:
    """``config`` with dotted keys replaced, each checked like the file's value.

    ``overrides`` maps a key path such as ``"server.port"`` to a value; ``None``
    values are skipped, so unset command-line flags change nothing.
    """
    for key, value in overrides.items():
        if value is not None:
            config = replace_setting(config, key, value, source)
    return config


def settings_table() -> str:
    """The Markdown reference of every setting, as ``docs/CONFIGURATION.md`` holds it."""
    return settings.settings_table(Config)
