"""Secrets cabinet hands out or keeps: password hashes, opaque tokens, signed access tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from servicekit.security.signing import issue_access_token

from cabinet.adapters.keys import ensure_keyset, signing_key
from cabinet.config import CabinetSettings

_hasher = PasswordHasher()
# Verifying against this when the account does not exist costs the same time as a real check,
# so response times do not tell whether an email is registered.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always does the same work, even without a hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


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
) -> str:
    """A short-lived access JWT signed with the newest key.

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
        extra_claims={"lang": language} if language in ("ru", "en") else None,
    )
