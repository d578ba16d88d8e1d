"""Signing keys and access-token issuing.

cabinet issues access tokens with these helpers; ``make token`` and tests use them too. Keys are
JWKs (RFC 7517): Ed25519 (``kty: OKP``, ``alg: EdDSA``) generated here, RSA (``alg: RS256``)
accepted when supplied. A key set file is a JSON object ``{"keys": [private JWK, ...]}``, newest
first, readable by its owner only (mode 0600); the newest key signs, all are published.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.exceptions import PyJWTError

__all__ = [
    "RESERVED_CLAIMS",
    "generate_signing_key",
    "issue_access_token",
    "jwk_thumbprint",
    "load_keyset",
    "public_jwk",
    "public_jwks",
    "save_keyset",
]

logger = logging.getLogger("servicekit.security.signing")

#: Claims set by :func:`issue_access_token`; ``extra_claims`` may not override them.
RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "roles", "exp", "iat", "jti", "sid"})

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
# Members of the public key that define the RFC 7638 thumbprint, per key type.
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
}
_DEFAULT_ALG = {"OKP": "EdDSA", "RSA": "RS256"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk_data: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK (base64url), usable as a ``kid``."""
    kty = jwk_data.get("kty")
    members = _THUMBPRINT_MEMBERS.get(str(kty))
    if members is None:
        raise ValueError(f"unsupported key type {kty!r}")
    canonical = json.dumps({m: jwk_data[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def generate_signing_key(kid: str | None = None) -> dict[str, Any]:
    """A new private Ed25519 JWK: ``kty, crv, x, d, kid, alg: "EdDSA", use: "sig"``.

    ``kid`` defaults to the key's RFC 7638 thumbprint.
    """
    private = Ed25519PrivateKey.generate()
    jwk_data: dict[str, Any] = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(private.public_key().public_bytes_raw()),
        "d": _b64url(private.private_bytes_raw()),
    }
    jwk_data["kid"] = kid or jwk_thumbprint(jwk_data)
    jwk_data["alg"] = "EdDSA"
    jwk_data["use"] = "sig"
    return jwk_data


def _require_private(private_jwk: Mapping[str, Any]) -> None:
    if not isinstance(private_jwk, Mapping):
        raise TypeError("a JWK must be a mapping")
    if private_jwk.get("kty") not in _DEFAULT_ALG:
        raise ValueError(f"unsupported signing key type {private_jwk.get('kty')!r}")
    if not private_jwk.get("kid"):
        raise ValueError("the signing key has no 'kid'")
    if "d" not in private_jwk:
        raise ValueError(f"key {private_jwk.get('kid')!r} is not a private key (no 'd')")


def public_jwk(private_jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public half of a private JWK (private members removed), fit for a JWKS."""
    kty = private_jwk.get("kty")
    if kty not in _DEFAULT_ALG:
        raise ValueError(f"unsupported key type {kty!r} (symmetric keys are never published)")
    public = {k: v for k, v in private_jwk.items() if k not in _PRIVATE_MEMBERS}
    public.setdefault("alg", _DEFAULT_ALG[str(kty)])
    public.setdefault("use", "sig")
    if "key_ops" in public:
        public["key_ops"] = ["verify"]
    try:
        jwt.PyJWK(dict(public))
    except PyJWTError:
        raise ValueError(f"key {private_jwk.get('kid')!r} is not a usable public JWK") from None
    return public


def public_jwks(private_jwks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A JWKS document ``{"keys": [...]}`` with the public halves of ``private_jwks``."""
    return {"keys": [public_jwk(k) for k in private_jwks]}


def issue_access_token(
    private_jwk: Mapping[str, Any],
    *,
    subject: uuid.UUID | str,
    roles: Iterable[str],
    issuer: str,
    audience: str | Sequence[str],
    ttl_seconds: int = 900,
    session_id: uuid.UUID | str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> str:
    """Sign an access JWT with ``private_jwk`` (header: its ``kid``, ``typ: at+jwt``).

    Claims: ``iss``, ``aud``, ``sub`` (the user id as a string), ``roles`` (sorted list),
    ``iat`` and ``exp`` (``now`` + ``ttl_seconds``, epoch seconds), ``jti`` (random uuid hex),
    ``sid`` (``session_id``: the session the token belongs to, revoked with it; a fresh random
    one when omitted, i.e. a session nobody can end early), plus ``extra_claims`` (which may not
    override those).
    """
    _require_private(private_jwk)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if isinstance(roles, str):
        raise TypeError("roles must be an iterable of role names, not a string")
    extra = dict(extra_claims or {})
    clash = RESERVED_CLAIMS.intersection(extra)
    if clash:
        raise ValueError(f"extra_claims may not set reserved claims {sorted(clash)}")
    issued = now or datetime.now(UTC)
    if issued.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    alg = str(private_jwk.get("alg") or _DEFAULT_ALG[str(private_jwk["kty"])])
    try:
        key = jwt.PyJWK(dict(private_jwk), algorithm=alg)
    except PyJWTError:
        raise ValueError(f"key {private_jwk.get('kid')!r} cannot sign with {alg}") from None
    claims: dict[str, Any] = {
        **extra,
        "iss": issuer,
        "aud": audience if isinstance(audience, str) else list(audience),
        "sub": str(subject),
        "roles": sorted(set(roles)),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
        "jti": uuid.uuid4().hex,
        "sid": str(session_id or uuid.uuid4()),
    }
    return jwt.encode(
        claims, key.key, algorithm=alg, headers={"kid": str(private_jwk["kid"]), "typ": "at+jwt"}
    )


def load_keyset(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a key set file: private JWKs, newest first.

    Accepts ``{"keys": [...]}`` (as written by :func:`save_keyset`) or a bare JSON list. Warns
    when the file is readable by group or others.
    """
    file = Path(path)
    mode = file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("key set %s is accessible by group/others (mode %o)", file, mode & 0o777)
    data = json.loads(file.read_text(encoding="utf-8"))
    keys = data.get("keys") if isinstance(data, dict) else data
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise ValueError(f"{file}: expected {{'keys': [JWK, ...]}}")
    for key in keys:
        _require_private(key)
    return keys


def save_keyset(path: str | os.PathLike[str], keys: Sequence[Mapping[str, Any]]) -> None:
    """Write private JWKs (newest first) atomically to ``path`` with mode 0600."""
    for key in keys:
        _require_private(key)
    kids = [str(k["kid"]) for k in keys]
    if len(set(kids)) != len(kids):
        raise ValueError("key ids in a key set must be unique")
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"keys": [dict(k) for k in keys]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
