"""The root of every error vpsmcp raises on purpose.

Each error knows how it is shown: the CLI turns any ``VpsmcpError`` into one
line on stderr and a non-zero exit status, and the HTTP layer renders the
subclasses that carry a wire form. Nothing else catches them::

    VpsmcpError
     ├── ConfigError          a config file or flag is wrong (names file and key)
     │    └── ConfigErrors    ... several of them, each on a line of its own
     ├── UsageError           a command was asked something it cannot do (oauth/commands.py)
     ├── StateError           the state directory cannot be created or used
     │    └── AuditUnavailable  ... the audit log cannot be written: no call runs unrecorded (audit/log.py)
     ├── InstallError         install, upgrade or uninstall cannot go on (files were put back)
     ├── FleetError           a fleet node cannot be added, logged in to or found (fleet/)
     ├── DoctorError          vpsmcp doctor cannot check what it was given (doctor/model.py)
     │    └── ProbeError      ... a request it sent got no usable answer (becomes a failed step)
     ├── PageError            a request refused as an HTML page for a person (consent, status page)
     ├── ScrapeRefused        /metrics refused: 401 or 403 with its challenge (status/scrape.py)
     ├── JsonRpcError         a JSON-RPC error object: code, message, data
     │    └── TransportError  ... that also fixes the HTTP status it travels with
     │         ├── TokenRefused   ... 401: no token, or one refused; its challenge names the metadata
     │         └── ScopeRequired  ... 403: the call needs a scope the token lacks (step-up)
     └── ToolError            a tool failed; the model sees it as an isError result
          └── UpstreamError   a gateway upstream is down, slow or broke off (names it)

Outside the root on purpose: ``gateway/http_client.py``'s ``HttpError``, the h11
client's failure, never leaves the gateway (each link turns it into an
``UpstreamError`` or a lost link). OAuth protocol errors are authlib's
``OAuth2Error`` tree (oauth/registration.py, oauth/authorization.py and
oauth/cimd.py add theirs), rendered as RFC 6749 §5.2 JSON by oauth/routes.py;
tests/test_architecture.py holds this drawing to the classes the code defines.
"""

from __future__ import annotations

from typing import Any


class VpsmcpError(Exception):
    """Base class: an expected failure with a message meant for a person."""

    exit_status = 1


class ConfigError(VpsmcpError):
    """A configuration value is wrong; the message names the file and key path."""

    exit_status = 2

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class ConfigErrors(ConfigError):
    """Several configuration values are wrong: each named on a line of its own (the first one is
    also this error's ``key`` and ``problem``, so a caller expecting one error still finds one)."""

    errors: list[ConfigError]

    def __init__(self, errors: list[ConfigError]) -> None:
        flat: list[ConfigError] = []
        for error in errors:
            flat.extend(error.errors if isinstance(error, ConfigErrors) else [error])
        self.errors = flat
        first = self.errors[0]
        super().__init__(first.source, first.key, first.problem)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return str(self.args[0])

    @staticmethod
    def of(errors: list[ConfigError]) -> ConfigError | None:
        """None for none, the one for one, ``ConfigErrors`` for several."""
        if not errors:
            return None
        return errors[0] if len(errors) == 1 and not isinstance(errors[0], ConfigErrors) else ConfigErrors(errors)


class PageError(VpsmcpError):
    """A request refused and shown to a person as an HTML page (status, title, message): the consent
    page's and the status page's refusals; each blueprint renders it with its own template."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class StateError(VpsmcpError):
    """The state directory (tokens, sessions, audit log) is unusable."""


class FleetError(VpsmcpError):
    """``vpsmcp fleet`` cannot do what was asked: the node is unknown, unreachable, or refused the
    hub's login; the message names the node and what to do."""


class InstallError(VpsmcpError):
    """``install``, ``upgrade`` or ``uninstall`` stopped; the message says which step and why."""


class JsonRpcError(VpsmcpError):
    """An error with its JSON-RPC wire form (JSON-RPC 2.0, section 5.1).

    ``id`` is the id of the request it answers, when the parser got that far.
    """

    def __init__(self, code: int, message: str, data: Any = None, id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.id = id


class TransportError(JsonRpcError):
    """A JSON-RPC error that an HTTP transport answers with ``status``.

    ``headers`` are extra response headers (``Allow`` on a 405, say).
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        id: str | int | None = None,
    ) -> None:
        super().__init__(code, message, data, id)
        self.status = status
        self.headers = headers or {}

    @classmethod
    def of(cls, error: JsonRpcError, status: int = 400, id: str | int | None = None) -> TransportError:
        """``error`` as the HTTP answer ``status``: the one way a core error becomes a transport one."""
        return cls(status, error.code, error.message, error.data, id=error.id if id is None else id)


class TokenRefused(TransportError):
    """401 with the ``WWW-Authenticate`` challenge (oauth/bearer.py). ``sent``: a credential came
    and was refused (the trace says "token refused"), else it is the expected first challenge."""

    def __init__(self, code: int, message: str, headers: dict[str, str], sent: bool) -> None:
        super().__init__(401, code, message, headers=headers)
        self.sent = sent


class ScopeRequired(TransportError):
    """403 step-up: the call needs ``scope``, which the token lacks (oauth/bearer.py, access.py)."""

    def __init__(self, code: int, message: str, scope: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(403, code, message, data={"requiredScope": scope}, headers=headers)
        self.scope = scope


class ToolError(VpsmcpError):
    """A tool could not do what was asked; returned as ``isError: true`` with this text.

    Tool failures are results, not protocol errors (server/tools, "Error Handling"),
    so the model can read them and correct itself.
    """


class UpstreamError(ToolError):
    """A gateway upstream could not serve a call: it is down, restarting, too slow,
    or it stopped mid-call. The message names the upstream; a tool call shows it
    to the model as an ``isError`` result, other requests as an internal error.
    """

    def __init__(self, upstream: str, problem: str) -> None:
        self.upstream = upstream
        self.problem = problem
        super().__init__(f"upstream {upstream!r} {problem}")
