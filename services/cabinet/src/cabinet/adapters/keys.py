"""cabinet's signing keys: a JSON file of private JWKs, newest first.

A rotation publishes the new key *before* signing with it: the new key carries an
``activates_at`` time (now + ``JWT_KEY_ACTIVATION_SECONDS``), the JWKS serves it at once, and
tokens are signed with the newest key already active. Because the activation delay exceeds the
verifiers' minimum JWKS refresh interval, a verifier meeting the new ``kid`` may always refetch.
The file keeps three keys — the next (if pending), the current and the previous — so a token
signed just before a rotation stays valid for its whole lifetime and nobody is logged out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from servicekit.security.signing import (
    generate_signing_key,
    load_keyset,
    public_jwks,
    save_keyset,
)

logger = logging.getLogger("cabinet.keys")
KEEP = 3  # next (pending), current, previous
_META = ("activates_at",)


def ensure_keyset(path: str | Path) -> list[dict[str, Any]]:
    """The keys in ``path``, creating a first (immediately active) key if there is none."""
    p = Path(path)
    if p.exists():
        keys = load_keyset(p)
        if keys:
            return keys
    keys = [generate_signing_key()]
    p.parent.mkdir(parents=True, exist_ok=True)
    save_keyset(p, keys)
    logger.info("created a signing key", extra={"kid": keys[0]["kid"]})
    return keys


def _active(key: Mapping[str, Any], now: datetime) -> bool:
    at = key.get("activates_at")
    return at is None or datetime.fromisoformat(str(at)) <= now


def signing_key(keys: Sequence[Mapping[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """The newest key already active (the oldest one if, oddly, none is)."""
    moment = now or datetime.now(UTC)
    for key in keys:
        if _active(key, moment):
            return {k: v for k, v in key.items() if k not in _META}
    return {k: v for k, v in keys[-1].items() if k not in _META}


def published_keys(keys: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JWKS: public halves of every key in the file, pending ones included."""
    return public_jwks([{k: v for k, v in key.items() if k not in _META} for key in keys])


def rotate_keyset(
    path: str | Path,
    *,
    activation: timedelta = timedelta(seconds=30),
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Add a new key, active after ``activation``; keep the next, current and previous keys."""
    moment = now or datetime.now(UTC)
    new = {**generate_signing_key(), "activates_at": (moment + activation).isoformat()}
    keys = [new, *ensure_keyset(path)][:KEEP]
    save_keyset(Path(path), keys)
    return keys
