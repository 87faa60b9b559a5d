"""What an upstream offers, as it listed it: tools, resources, resource templates and prompts.

Fetched once when the upstream is ready and again, kind by kind, when it
sends a ``list_changed`` notification. Every page is read (``nextCursor``),
and only the kinds the server declared a capability for are asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from vpsmcp.errors import UpstreamError
from vpsmcp.gateway.session import UpstreamSession

MAX_PAGES = 100

# kind: (method, result key, the server capability it needs)
KINDS: dict[str, tuple[str, str, str]] = {
    "tools": ("tools/list", "tools", "tools"),
    "resources": ("resources/list", "resources", "resources"),
    "templates": ("resources/templates/list", "resourceTemplates", "resources"),
    "prompts": ("prompts/list", "prompts", "prompts"),
}
# What a list_changed notification of each kind makes us fetch again.
REFETCH = {"tools": ("tools",), "resources": ("resources", "templates"), "prompts": ("prompts",)}


@dataclass(frozen=True, slots=True)
class Catalog:
    """The upstream's lists, entries as the upstream sent them."""

    tools: tuple[dict[str, Any], ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    templates: tuple[dict[str, Any], ...] = ()
    prompts: tuple[dict[str, Any], ...] = ()


async def fetch(session: UpstreamSession, catalog: Catalog, kinds: Iterable[str], timeout: float) -> Catalog:
    """``catalog`` with ``kinds`` fetched afresh from ``session``."""
    changes = {}
    for kind in kinds:
        method, key, capability = KINDS[kind]
        if capability in session.capabilities:
            changes[kind] = await _all_pages(session, method, key, timeout)
    return replace(catalog, **changes)


async def _all_pages(session: UpstreamSession, method: str, key: str, timeout: float) -> tuple[dict[str, Any], ...]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    for _ in range(MAX_PAGES):
        result = await session.request(method, params, timeout=timeout)
        page = result.get(key)
        if not isinstance(page, list):
            raise UpstreamError(session.name, f"answered {method} without a {key} list")
        items.extend(item for item in page if isinstance(item, dict))
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            return tuple(items)
        params = {"cursor": cursor}
    raise UpstreamError(session.name, f"answered {method} with more than {MAX_PAGES} pages")
