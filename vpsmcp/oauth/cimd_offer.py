"""Whether to offer client ID metadata documents: only while this server can fetch them.

Claude chooses a metadata document over dynamic registration whenever the
server metadata says ``client_id_metadata_document_supported: true`` and lists
``none`` among the token endpoint's methods, as vpsmcp's does. The server must
then fetch ``https://claude.ai/oauth/…`` itself; on a VPS whose egress is
filtered, or whose DNS or CA store is broken, that fails and the person waits
on an error page while the client waits forever. So in ``auto`` mode the
offer follows a check: the probe document (Claude's published one) is fetched
at start and every few hours, sooner again after a failure, and the offer
stands only while the last check succeeded; clients register dynamically
otherwise. ``on`` always offers, ``off`` never does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidClientError

from vpsmcp.oauth.cimd import CimdResolver, FetchFailed

log = logging.getLogger("vpsmcp.oauth")

CHECK_INTERVAL = 4 * 3600.0  # after a success
RETRY_INTERVAL = 600.0  # after a failure


@dataclass
class CimdOffer:
    """The mode, and what the last check of the probe document found."""

    mode: str  # "auto", "on" or "off"
    probe_url: str
    resolver: CimdResolver
    reachable: bool | None = None  # None: not checked yet
    cause: str = "not checked yet"
    checked_at: float | None = None

    @property
    def offered(self) -> bool:
        """Whether the server metadata advertises metadata documents now."""
        return self.mode == "on" or (self.mode == "auto" and self.reachable is True)

    @property
    def accepted(self) -> bool:
        """Whether a URL ``client_id`` is fetched at all (``off`` treats it as an unknown client)."""
        return self.mode != "off"

    async def check(self) -> bool:
        """Fetch the probe document once; True if it could be had."""
        try:
            await self.resolver.fetch(self.probe_url)
        except FetchFailed as failed:
            reachable, cause = False, failed.cause
        except InvalidClientError as invalid:  # fetched: the network works, the document is odd
            reachable, cause = True, f"fetched, but {invalid.description}"
        else:
            reachable, cause = True, ""
        if reachable != self.reachable:
            level = logging.INFO if reachable else logging.WARNING
            log.log(level, "client ID metadata documents: %s", self._words(reachable, cause))
        self.reachable, self.cause, self.checked_at = reachable, cause, time.time()
        return reachable

    def describe(self) -> str:
        """One line for the status page and ``vpsmcp install``."""
        if self.mode == "off":
            return 'not offered (auth.client_metadata = "off"): clients register dynamically'
        if self.reachable is None:
            return f"{'offered' if self.offered else 'not offered yet'}: this server has not tried to fetch {self.probe_url} yet"
        offer = "offered" if self.offered else "not offered, so clients register dynamically"
        return f"{offer}; {self._words(self.reachable, self.cause)}"

    def _words(self, reachable: bool, cause: str) -> str:
        if reachable:
            return f"this server can fetch {self.probe_url}" + (f" ({cause})" if cause else "")
        return f"this server cannot fetch {self.probe_url}: {cause}"

    async def run(self) -> None:
        """Check at start and again and again, until cancelled (the server's background task)."""
        if self.mode == "off":
            return
        while True:
            try:
                fetched = await self.check()
            except Exception:  # the background task's boundary: a bug here must not end the checks
                log.exception("checking %s failed", self.probe_url)
                fetched = False
            await asyncio.sleep(CHECK_INTERVAL if fetched else RETRY_INTERVAL)
