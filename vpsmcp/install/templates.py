"""The deployment files vpsmcp ships (systemd unit, nginx sites) and filling them in.

In the pyz they are ``vpsmcp/deploy/`` (build.py copies ``systemd/`` there)
and are read with ``importlib.resources``, which reads inside a zip; in a
checkout they are read from ``systemd/`` beside the package.

A template names what differs between machines as ``@NAME@``. ``render``
fills every one in, refuses a template that names something it was not
given (or a value given for nothing), and refuses values that could end an
nginx directive or open a block: a public URL holding ``;`` or ``}`` must
not become configuration. A line whose placeholder stands for several
values (a tuple) is repeated once per value, which is how one ``listen``
line becomes one per address.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping
from pathlib import Path

from vpsmcp.errors import InstallError

UNIT = "vpsmcp.service"
NGINX_SITE = "nginx-vpsmcp.conf"
NGINX_ACME_SITE = "nginx-vpsmcp-acme.conf"

PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")
# What nginx would read as the end of a value, a block, a comment or a variable.
UNSAFE = re.compile(r"[\s;{}#$'\"\\]")

Value = str | tuple[str, ...]


def deploy_file(name: str) -> str:
    """The text of a shipped deployment file, from the pyz or the checkout."""
    resource = importlib.resources.files("vpsmcp") / "deploy" / name
    if resource.is_file():
        return resource.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "systemd" / name
    try:
        return checkout.read_text(encoding="utf-8")
    except OSError:
        raise InstallError(f"the deployment file {name} is missing from this build (vpsmcp/deploy/ or systemd/)") from None


def render(template: str, values: Mapping[str, Value], name: str = "template") -> str:
    """``template`` with every ``@NAME@`` replaced by ``values[NAME]``."""
    for key, value in values.items():
        for item in (value,) if isinstance(value, str) else value:
            if not item or UNSAFE.search(item):
                raise InstallError(f"{name}: {key.lower()} {item!r} is empty or holds a space, quote, ';', '{{', '}}', '#' or '$'")
    used: set[str] = set()
    lines = []
    for line in template.splitlines(keepends=True):
        names = PLACEHOLDER.findall(line)
        unknown = [n for n in names if n not in values]
        if unknown:
            raise InstallError(f"{name}: no value for @{unknown[0]}@")
        used.update(names)
        lists = {n for n in names if not isinstance(values[n], str)}
        if len(lists) > 1:
            raise InstallError(f"{name}: one line repeats for both @{'@ and @'.join(sorted(lists))}@")
        repeat = values[lists.pop()] if lists else ("",)
        lines += [PLACEHOLDER.sub(functools.partial(_filled, values, item), line) for item in repeat]
    unused = sorted(set(values) - used)
    if unused:
        raise InstallError(f"{name}: @{unused[0]}@ does not occur")
    return "".join(lines)


def _filled(values: Mapping[str, object], item: str, match: re.Match[str]) -> str:
    """A placeholder's value: ``item`` for the line's repeated one, else its text."""
    value = values[match[1]]
    return str(value) if isinstance(value, str) else item
