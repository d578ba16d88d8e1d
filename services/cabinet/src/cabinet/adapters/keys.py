"""cabinet's signing keys: a JSON file of private JWKs, newest first.

The newest key signs; the JWKS serves every key in the file (the current and the previous one),
so rotating never invalidates a token still within its lifetime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from servicekit.security.signing import generate_signing_key, load_keyset, save_keyset

logger = logging.getLogger("cabinet.keys")
KEEP = 2  # the current key and the previous one


def ensure_keyset(path: str | Path) -> list[dict[str, Any]]:
    """The keys in ``path``, creating a first key if the file does not exist."""
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


def rotate_keyset(path: str | Path) -> list[dict[str, Any]]:
    """Put a new key first and keep only the previous one besides it."""
    keys = [generate_signing_key(), *ensure_keyset(path)][:KEEP]
    save_keyset(Path(path), keys)
    return keys
