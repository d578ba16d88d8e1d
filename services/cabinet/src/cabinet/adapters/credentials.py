"""Secrets cabinet hands out or keeps: password hashes, opaque tokens, signed access tokens."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from servicekit.security.signing import issue_access_token

from cabinet.adapters.keys import ensure_keyset, signing_key
from cabinet.config import CabinetSettings

_hasher = PasswordHasher()
# Verifying against this when the account does not exist costs the same time as a real check,
# so response times do not tell whether an email is registered.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

#: argon2 runs here, never on the event loop (a hash is ~0.1-0.3 s of CPU and 64 MiB: eight
#: logins on the loop stalled every request, the JWKS included, for seconds). argon2-cffi
#: releases the GIL, so the loop keeps serving; the pool's size bounds the CPU and memory
#: hashing may take, and further logins wait their turn in its queue.
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """argon2id hash of a password (computed in the bounded hashing pool)."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always does the same work, even without a hash (computed
    in the bounded hashing pool)."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password)


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
