"""authlib's synchronous server core, fed from Quart.

Quart's body accessors are coroutines, so a view awaits the form first and
hands authlib this snapshot; authlib's answers come back as ``Answer``
(status, body, headers) for the view to render. The request URI is built on
the public URL, never on the internal ``127.0.0.1:port`` nginx talks to.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request
from werkzeug.datastructures import Headers, MultiDict


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """Query and form parameters together, form taking precedence."""

    def __init__(self, values: MultiDict[str, str]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return {key: self._values[key] for key in self._values}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        lists: defaultdict[str, list[str]] = defaultdict(list)
        for key in self._values:
            lists[key].extend(self._values.getlist(key))
        return lists


class SnapshotRequest(OAuth2Request):  # type: ignore[misc]
    """An ``OAuth2Request`` whose body was read before authlib sees it."""

    def __init__(
        self, method: str, uri: str, headers: Headers, args: MultiDict[str, str], form: MultiDict[str, str]
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = args
        self._form = form
        combined: MultiDict[str, str] = MultiDict(args)
        for key in form:
            combined.setlist(key, form.getlist(key))
        self.payload = FormPayload(combined)

    @property
    def args(self) -> MultiDict[str, str]:
        return self._args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form


def snapshot(method: str, uri: str, headers: Mapping[str, str], args: Mapping[str, Any], form: Mapping[str, Any]) -> SnapshotRequest:
    """A snapshot from plain mappings (Quart's or a test's); ``InvalidRequestError`` for a parameter
    OAuth does not allow (see ``check_parameters``)."""
    request = SnapshotRequest(method, uri, Headers(list(headers.items())), _multi(args), _multi(form))
    check_parameters(request.args)
    check_parameters(request.form)
    return request


def check_parameters(values: MultiDict[str, str]) -> None:
    """RFC 6749 Appendix A: parameter values are printable ASCII (VSCHAR); none but ``state`` carries
    ``"`` or ``\\`` (no URI, scope, code or secret does). authlib echoes values into error
    descriptions, which may hold neither, and fails with a ValueError (a 500) when one does."""
    for name, value in values.items(multi=True):
        loose = name == "state"
        if not _VSCHAR.fullmatch(value) or (not loose and ('"' in value or "\\" in value)):
            shown = name if _NAME.fullmatch(name) else "a parameter"
            raise InvalidRequestError(f"{shown} holds characters OAuth does not allow (printable ASCII only)")


_VSCHAR = re.compile(r"[\x20-\x7e]*")
_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")


def _multi(values: Mapping[str, Any]) -> MultiDict[str, str]:
    if isinstance(values, MultiDict):
        return MultiDict(values)
    return MultiDict(list(values.items()))


@dataclass(frozen=True, slots=True)
class Answer:
    """What authlib wants sent: status, a JSON object or text, headers."""

    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)
