"""The families a shared store has looked up, by id and by token digest: what both shared backends keep.

A bearer check is then a dictionary lookup. The store decides when the cache
is stale (``sqlite``: ``PRAGMA data_version``; ``redis``: its version key) and
calls ``_clear``; here are the lookups built on ``_by_token`` (the store's:
the family a digest of that kind belongs to), what a store remembers and
forgets, and the last-use times waiting for ``flush``.
"""

from __future__ import annotations

from vpsmcp.oauth.records import Family

CACHE_LIMIT = 50_000  # token digests cached; past it the cache starts over


class FamilyCache:
    """Mixin for a store: call ``_start_cache`` in ``__init__``; define ``_by_token``."""

    def _start_cache(self) -> None:
        self._families: dict[str, Family] = {}
        self._by_digest: dict[str, Family] = {}
        self._touched: dict[str, float] = {}  # family id -> last use, for the next flush

    def _by_token(self, token_digest: str, kind: str) -> Family | None:
        raise NotImplementedError

    def by_access(self, token_digest: str) -> Family | None:
        family = self._by_token(token_digest, "access")
        return family if family is not None and token_digest in family.access else None

    def by_refresh(self, token_digest: str) -> Family | None:
        family = self._by_token(token_digest, "refresh")
        if family is None or (token_digest not in family.live and token_digest not in family.retired):
            return None
        return family

    def touch(self, family: Family, now: float) -> None:
        family.last_used_at = now
        self._touched[family.id] = now

    def _take_touched(self) -> dict[str, float]:
        touched, self._touched = self._touched, {}
        return touched

    def _remember(self, family: Family) -> None:
        if len(self._by_digest) > CACHE_LIMIT:
            self._clear()
        self._families[family.id] = family
        for d in (*family.access, *family.live, *family.retired):
            self._by_digest[d] = family

    def _forget(self, family_id: str) -> None:
        family = self._families.pop(family_id, None)
        if family is not None:
            for d in (*family.access, *family.live, *family.retired):
                self._by_digest.pop(d, None)

    def _clear(self) -> None:
        self._families.clear()
        self._by_digest.clear()
