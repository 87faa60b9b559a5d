"""The VPS owner's password and the brake on guessing it.

The password is stored as PBKDF2-HMAC-SHA256 with a random salt and a high
iteration count (standard library only: the pyz is pure Python), compared in
constant time, and checked in a worker thread so a login never stalls the
event loop. The iterations slow the guessing of a password a person chose;
the one the first start generates is 128 random bits, out of reach of any
guessing without them (like the tokens, stored as one SHA-256 digest), so it
is stored with one iteration and the first start does not wait 0.2 s for the
hash. A password set with ``vpsmcp passwd`` gets the full count. Failed logins are counted per client address: after a few, each
further attempt must wait twice as long as the last (up to 15 minutes).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from vpsmcp.atomic import write_atomic
from vpsmcp.errors import PageError, StateError

T = TypeVar("T")

PASSWORD_FILE = "owner_password"
ITERATIONS = 600_000
GENERATED_ITERATIONS = 1  # for a generated password of GENERATED_BYTES random bytes
GENERATED_BYTES = 16
MIN_LENGTH = 12
FREE_ATTEMPTS = 5
MAX_DELAY = 900.0


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return json.dumps(
        {"alg": "pbkdf2-sha256", "iterations": iterations,
         "salt": base64.b64encode(salt).decode(), "hash": base64.b64encode(dk).decode()}
    )


def verify_password(password: str, stored: str) -> bool:
    record = json.loads(stored)
    salt = base64.b64decode(record["salt"])
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(record["iterations"]))
    return hmac.compare_digest(dk, base64.b64decode(record["hash"]))


class OwnerPassword:
    """The password file in the state directory (0600)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PASSWORD_FILE

    def is_set(self) -> bool:
        return self.path.exists()

    def set(self, password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise StateError(f"the owner password must have at least {MIN_LENGTH} characters")
        write_atomic(self.path, hash_password(password).encode() + b"\n")

    def generate(self) -> str:
        """A new random password, stored; returned to be shown once."""
        generated = secrets.token_urlsafe(GENERATED_BYTES)
        write_atomic(self.path, hash_password(generated, GENERATED_ITERATIONS).encode() + b"\n")
        return generated

    def check(self, password: str) -> bool:
        try:
            stored = self.path.read_text()
        except FileNotFoundError:
            return False
        try:
            return verify_password(password, stored)
        except (ValueError, KeyError) as exc:
            raise StateError(f"{self.path}: unreadable password record ({exc}); set it again with 'vpsmcp passwd'") from None


def delay_after(count: int) -> float:
    """Seconds an address with ``count`` failures waits after its last before trying again."""
    return 0.0 if count < FREE_ATTEMPTS else min(MAX_DELAY, 2.0 ** (count - FREE_ATTEMPTS))


@dataclass(slots=True)
class LoginLimiter:
    """Failed attempts per client address, with exponential back-off, in this process."""

    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds ``address`` must still wait before trying again (0: may try)."""
        count, last = self.failures.get(address, (0, 0.0))
        return max(0.0, last + delay_after(count) - (time.time() if now is None else now))

    def failed(self, address: str) -> None:
        count, _ = self.failures.get(address, (0, 0.0))
        self.failures[address] = (count + 1, time.time())
        if len(self.failures) > 10_000:  # bounded memory under a spray of addresses
            oldest = min(self.failures, key=lambda a: self.failures[a][1])
            del self.failures[oldest]

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


@runtime_checkable
class FailureShelf(Protocol):
    """Where instances sharing a store count failed logins (``sqlite_store.SqliteStore``)."""

    def login_failures(self, address: str) -> tuple[int, float]: ...
    def login_failed(self, address: str, now: float) -> None: ...
    def login_succeeded(self, address: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SharedLoginLimiter:
    """``LoginLimiter`` counted in the shared store: guesses spread over instances brake as one."""

    shelf: FailureShelf

    def wait(self, address: str, now: float | None = None) -> float:
        count, last = self.shelf.login_failures(address)
        return max(0.0, last + delay_after(count) - (time.time() if now is None else now))

    def failed(self, address: str) -> None:
        self.shelf.login_failed(address, time.time())

    def succeeded(self, address: str) -> None:
        self.shelf.login_succeeded(address)


@dataclass(frozen=True, slots=True)
class OwnerLogin:
    """The owner password behind the brake: the one check the consent page and the status page share."""

    password: OwnerPassword
    limiter: LoginLimiter | SharedLoginLimiter

    async def attempt(self, address: str, typed: str) -> None:
        """Return when ``typed`` is the owner's password; else raise ``PageError`` (429 while the
        address is braked, 503 with no password set, 401 for a wrong one, which brakes it further).
        The hash is checked off the event loop (PBKDF2 takes a tenth of a second)."""
        wait = await self._brake(self.limiter.wait, address)
        if wait > 0:
            raise PageError(429, "Too many attempts", f"Too many failed attempts: try again in {int(wait) + 1} s.")
        if not self.password.is_set():
            raise PageError(503, "No owner password", "No owner password is set: set one with 'vpsmcp passwd'.")
        if not await asyncio.to_thread(self.password.check, typed):
            await self._brake(self.limiter.failed, address)
            raise PageError(401, "Wrong password", "That is not the owner password.")
        await self._brake(self.limiter.succeeded, address)

    async def _brake(self, call: Callable[[str], T], address: str) -> T:
        """A call to the brake: in a worker thread when it is counted in the store (its calls block)."""
        if isinstance(self.limiter, SharedLoginLimiter):
            return await asyncio.to_thread(call, address)
        return call(address)
