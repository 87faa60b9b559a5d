"""The file store for the event loop and its worker threads together: every call under one lock.

What blocks in a store — a commit's fsync, any Redis round trip, waiting for
another process's write lock — runs in worker threads (``asyncio.to_thread``:
the token, revocation, registration and consent requests, the sweep, the
login brake, and for Redis the bearer check), so the event loop goes on
serving meanwhile. The sqlite and redis stores are made for that (a writer
connection and a lock for transactions, a reader for the rest; a thread's own
transaction). ``FileStore`` is not: ``Serialized`` runs each of its calls
under one reentrant lock, and ``transaction`` holds it throughout, so a
transaction in one thread never sees another thread's calls between its steps
(a read on the loop waits for a file write meanwhile, as it always did).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Serialized:
    """``inner``'s methods, each under one lock; its other attributes as they are."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.RLock()
        self._methods: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, name: str) -> Any:  # only for what the store has: hasattr() stays true to it
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr
        method = self._methods.get(name)
        if method is None:
            lock = self._lock

            def method(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return attr(*args, **kwargs)

            self._methods[name] = method
        return method

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock, self.inner.transaction():
            yield
