"""Secrets cabinet hands out or keeps: password hashes, opaque tokens, signed access tokens."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from servicekit.security.signing import issue_access_token

from cabinet.adapters.keys import ensure_keyset, signing_key
from cabinet.config import CabinetSettings

T = TypeVar("T")

#: argon2 runs in a pool of this many threads, never on the event loop (a hash is ~0.1-0.3 s of
#: CPU and 64 MiB: eight logins on the loop stalled every request, the JWKS included, for
#: seconds). argon2-cffi releases the GIL, so the loop keeps serving; the pool's size bounds the
#: CPU and memory hashing may take, and further logins wait their turn in its queue.
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))

#: argon2id with one of OWASP's recommended configurations (Password Storage Cheat Sheet: 19 MiB,
#: two passes, one lane; its listed configurations "provide an equal level of defense", trading
#: CPU for memory). argon2-cffi's default (64 MiB, three passes, four lanes) costs 150 ms of CPU
#: over every core of a 2-core host per login, which put every other request of the machine
#: behind logins (bench/RESULTS.md, "Mixed load"); this costs about 20 ms of one core. Hashes
#: made with other parameters still verify and are replaced at the next successful login
#: (:meth:`Passwords.needs_rehash`).
ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_LANES = 2, 19456, 1


class Passwords:
    """Password hashing and checking (argon2id) in a bounded pool of threads; one per runtime
    (``cabinet.application.ports``), closed with it."""

    def __init__(self, workers: int = HASH_WORKERS) -> None:
        self._hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_LANES
        )
        # Verifying against this when the account does not exist costs the same time as a real
        # check, so response times do not tell whether an email is registered.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self.in_flight = 0
        """Hashes being computed or waiting for a thread (the pool's load, for metrics and
        tests)."""

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            matches = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matches and password_hash is not None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
        finally:
            self.in_flight -= 1

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash was made with other parameters than this module's ``ARGON2_*``."""
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except InvalidHashError:
            return False

    async def hash(self, password: str) -> str:
        """argon2id hash of a password."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; always does the same work, even
        without a hash (no account)."""
        return await self._run(self._verify, password_hash, password)

    def close(self) -> None:
        """Stop the threads (hashes not started yet are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def new_secret() -> str:
    """An opaque, unguessable token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a token: its SHA-256 (the token itself never touches the database)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def access_token(
    settings: CabinetSettings,
    user_id: uuid.UUID,
    roles: Sequence[str],
    language: str | None = None,
    *,
    session_id: uuid.UUID,
) -> str:
    """A short-lived access JWT signed with the newest key, in session ``session_id`` (the
    refresh family: revoking it refuses this token everywhere, see cabinet.application.sessions).

    ``language`` (the account's ``ru``/``en`` setting) becomes the optional ``lang`` claim, so
    every service answers errors in it when a request has no ``Accept-Language`` preference.
    """
    key = signing_key(ensure_keyset(settings.jwt_signing_keys_file))
    return issue_access_token(
        key,
        subject=user_id,
        roles=list(roles),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        session_id=session_id,
        extra_claims={"lang": language} if language in ("ru", "en") else None,
    )
