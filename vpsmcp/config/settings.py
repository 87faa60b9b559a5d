"""Settings declared as frozen dataclass fields, and their TOML form.

A *setting* is a dataclass field made by ``setting(default, doc, check)``;
a *section* is a frozen dataclass of settings, and sections nest (a table,
or a table of tables such as ``[upstreams.NAME]``). This module turns parsed
TOML into sections and back, checking types and values, and renders the
Markdown reference of every setting. It knows nothing of vpsmcp's own
settings (those are declared in ``config.py``); every error it raises is a
``ConfigError`` naming the file, the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any, Literal

from vpsmcp.errors import ConfigError, ConfigErrors

Check = Callable[[Any], "str | None"]
T = typing.TypeVar("T")

_BARE_KEY = re.compile(r"[A-Za-z0-9_.-]*\Z")  # a table name TOML can write without quotes


def setting(default: Any, doc: str, check: Check | None = None) -> Any:
    """Declare one setting: its default, a sentence for people, and a check.

    ``check`` returns ``None`` when the value is acceptable, else what was expected.
    A table (a mapping) is kept read-only; for a table of tables (``[upstreams.NAME]``)
    ``check`` judges each name.
    """
    if isinstance(default, Mapping):
        frozen = MappingProxyType(dict(default))
        return field(default_factory=lambda: frozen, metadata={"doc": doc, "check": check, "default": frozen})
    return field(default=default, metadata={"doc": doc, "check": check})


def iter_settings(cls: type[Any], prefix: str = "") -> Iterator[tuple[str, dataclasses.Field[Any]]]:
    """Every setting as (dotted key path, field), in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            yield from iter_settings(hints[f.name], key + ".")
        elif (item := _table_of_tables(hints[f.name])) is not None:
            yield from iter_settings(item, key + ".NAME.")
        else:
            yield key, f


def _table_of_tables(hint: Any) -> type[Any] | None:
    """The section class of a ``Mapping[str, Section]`` hint such as ``[upstreams.NAME]``."""
    if typing.get_origin(hint) is not Mapping:
        return None
    item = typing.get_args(hint)[1]
    return item if isinstance(item, type) and dataclasses.is_dataclass(item) else None


def decode_section(cls: type[T], data: Mapping[str, Any], source: str, path: str) -> T:
    """``data`` as a ``cls``; every wrong key and value in it is reported at once (``ConfigErrors``)."""
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    errors: list[ConfigError] = []
    for key in data:
        if key not in known:
            expected = ", ".join(known)
            errors.append(ConfigError(source, path + key, f"unknown key (expected one of: {expected})"))
    values = {}
    for name, f in known.items():
        if name in data:
            try:
                values[name] = decode_value(hints[name], f, data[name], source, path + name)
            except ConfigError as exc:
                errors.append(exc)
    if (error := ConfigErrors.of(errors)) is not None:
        raise error
    section = cls(**values)
    problem = getattr(section, "section_problem", lambda: None)()
    if problem is not None:
        raise ConfigError(source, path + problem[0], f"expected {problem[1]}")
    return section


def _decode_tables(item: type[T], f: dataclasses.Field[Any], value: Any, source: str, key: str) -> Mapping[str, T]:
    """A table of tables: each named table decoded as a section; ``check`` judges the names."""
    if not isinstance(value, dict):
        raise ConfigError(source, key, f"expected tables [{key}.NAME], got {_describe(value)}")
    check: Check | None = f.metadata.get("check")
    tables = {}
    errors: list[ConfigError] = []
    for name, table in value.items():
        where = f"{key}.{name}" if _BARE_KEY.match(name) else f"{key}.{json.dumps(name)}"
        problem = check(name) if check else None
        if problem is not None:
            errors.append(ConfigError(source, where, f"expected {problem}"))
        elif not isinstance(table, dict):
            errors.append(ConfigError(source, where, f"expected a table [{where}], got {_describe(table)}"))
        else:
            try:
                tables[name] = decode_section(item, table, source, where + ".")
            except ConfigError as exc:
                errors.append(exc)
    if (error := ConfigErrors.of(errors)) is not None:
        raise error
    return MappingProxyType(tables)


def decode_value(hint: Any, f: dataclasses.Field[Any], value: Any, source: str, key: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a table [{key}], got {_describe(value)}")
        return decode_section(hint, value, source, key + ".")
    if (item := _table_of_tables(hint)) is not None:
        return _decode_tables(item, f, value, source, key)
    expected = _check_type(hint, value)
    if expected is not None:
        raise ConfigError(source, key, f"expected {expected}, got {_describe(value)}")
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, dict):
        value = MappingProxyType(value)
    check: Check | None = f.metadata.get("check")
    try:
        problem = check(value) if check else None
    except ValueError as exc:  # a parser a check leans on refused the value (urlsplit: "Invalid IPv6 URL")
        raise ConfigError(source, key, f"{_describe(value)} is not valid: {exc}") from None
    if problem is not None:
        raise ConfigError(source, key, f"expected {problem}, got {_describe(value)}")
    return value


def _check_type(hint: Any, value: Any) -> str | None:
    """What was expected, or ``None`` when ``value`` has the type ``hint`` names."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        return None if value in choices else "one of " + ", ".join(repr(c) for c in choices)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, list) and all(_check_type(item, v) is None for v in value):
            return None
        return f"a list of {_PLURAL_WORDS[item]}"
    if origin is Mapping:
        item = typing.get_args(hint)[1]
        if isinstance(value, dict) and all(_check_type(item, v) is None for v in value.values()):
            return None
        return f"a table of {_PLURAL_WORDS[item]}"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    return None if ok else _TYPE_WORDS[hint]


_TYPE_WORDS: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
}
_PLURAL_WORDS: dict[Any, str] = {str: "strings", int: "integers", float: "numbers", bool: "true/false values"}


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, list):
        try:
            return json.dumps(value, ensure_ascii=False) if len(value) <= 10 else f"a list of {len(value)} items"
        except (TypeError, ValueError):  # a TOML date or time in it
            return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    return value


def replace_setting(root: T, key: str, value: Any, source: str) -> T:
    """``root`` (a section of sections) with the setting at ``"section.name"`` replaced, checked like a file's value."""
    section_name, name = key.split(".")
    section_cls = typing.get_type_hints(type(root))[section_name]
    f = next(f for f in dataclasses.fields(section_cls) if f.name == name)
    checked = decode_value(typing.get_type_hints(section_cls)[name], f, value, source, key)
    section = dataclasses.replace(getattr(root, section_name), **{name: checked})
    return dataclasses.replace(root, **{section_name: section})  # type: ignore[type-var]


def settings_table(cls: type[Any]) -> str:
    """The Markdown reference of every setting under the section class ``cls``."""
    lines: list[str] = []
    section = ""
    for key, f in iter_settings(cls):
        if key.rsplit(".", 1)[0] != section:
            section = key.rsplit(".", 1)[0]
            lines += ["", f"## `[{section}]`", "", "| key | default | meaning |", "|---|---|---|"]
        default = json.dumps(encode(f.metadata.get("default", f.default)))
        lines.append(f"| `{key}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(lines).strip() + "\n"
