"""``WWW-Authenticate`` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1).

``challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``; a header may
hold several challenges separated by commas, and parameters may be tokens
or quoted strings. Parsing is lenient — the doctor reports what it found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})\s*(,|$)')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: its scheme (as sent) and its parameters (names lower-cased)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def bearer(self) -> bool:
        return self.scheme.lower() == "bearer"


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` value, in order."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        rest = rest.lstrip(", ")
        match = _SCHEME.match(rest)
        if not match:
            break
        scheme, rest = match.group(1), rest[match.end():]
        params: dict[str, str] = {}
        while (param := _PARAM.match(rest)) is not None and not _starts_challenge(rest):
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            rest = rest[param.end():]
        if not params and rest and not _starts_challenge(rest):
            rest = rest.partition(",")[2]  # a token68 (Basic's base64, say): not ours to read
        challenges.append(Challenge(scheme, params))
    return challenges


def _starts_challenge(text: str) -> bool:
    """Whether ``text`` begins a new challenge (``Scheme param=…``) rather than a parameter."""
    return re.match(rf"\s*{_TOKEN}\s+{_TOKEN}\s*=", text) is not None


def bearer_of(header: str | None) -> Challenge | None:
    """The Bearer challenge in a header value, if there is one."""
    return next((c for c in parse_challenges(header or "") if c.bearer), None)
