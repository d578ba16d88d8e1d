"""Signing keys, JWKS documents, token issuing and key-set files."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt as pyjwt
import pytest
from servicekit.security.signing import (
    generate_signing_key,
    issue_access_token,
    jwk_thumbprint,
    load_keyset,
    public_jwk,
    public_jwks,
    save_keyset,
)


def test_generate_signing_key() -> None:
    key = generate_signing_key("2025-01")
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["kid"] == "2025-01"
    assert key["alg"] == "EdDSA"
    assert key["use"] == "sig"
    assert {"x", "d"} <= key.keys()
    default = generate_signing_key()
    assert default["kid"] == jwk_thumbprint(default)
    assert generate_signing_key()["kid"] != default["kid"]


def test_public_jwk_strips_private_members() -> None:
    key = generate_signing_key("k")
    pub = public_jwk(key)
    assert "d" not in pub
    assert pub == {k: v for k, v in key.items() if k != "d"}
    assert public_jwks([key, generate_signing_key("k2")])["keys"][0] == pub
    with pytest.raises(ValueError, match="symmetric"):
        public_jwk({"kty": "oct", "k": "c2VjcmV0", "kid": "s"})


def test_issue_access_token() -> None:
    key = generate_signing_key("k1")
    user = uuid.uuid4()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = issue_access_token(
        key,
        subject=user,
        roles=["client", "admin", "client"],
        issuer="iss",
        audience="aud",
        ttl_seconds=60,
        session_id="s1",
        now=now,
    )
    header = pyjwt.get_unverified_header(token)
    assert header["kid"] == "k1"
    assert header["typ"] == "at+jwt"  # RFC 9068: an access token says so
    assert header["alg"] == "EdDSA"
    claims = pyjwt.decode(
        token,
        pyjwt.PyJWK(public_jwk(key)).key,
        algorithms=["EdDSA"],
        audience="aud",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == str(user)
    assert claims["roles"] == ["admin", "client"]
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int(now.timestamp()) + 60
    assert claims["iss"] == "iss"
    assert claims["sid"] == "s1"
    assert len(claims["jti"]) == 32


def test_issue_access_token_guards() -> None:
    key = generate_signing_key("k1")
    common = {"subject": uuid.uuid4(), "issuer": "i", "audience": "a"}
    with pytest.raises(ValueError, match="reserved"):
        issue_access_token(key, roles=[], extra_claims={"sub": "x"}, **common)
    with pytest.raises(ValueError, match="private"):
        issue_access_token(public_jwk(key), roles=[], **common)
    with pytest.raises(TypeError):
        issue_access_token(key, roles="admin", **common)
    with pytest.raises(ValueError, match="aware"):
        issue_access_token(key, roles=[], now=datetime(2030, 1, 1), **common)


def test_keyset_file_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt-keys.json"
    keys = [generate_signing_key("new"), generate_signing_key("old")]
    save_keyset(path, keys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyset(path) == keys
    # Overwrite keeps the mode and leaves no temporary file behind.
    save_keyset(path, [generate_signing_key("newer"), *keys])
    assert [k["kid"] for k in load_keyset(path)] == ["newer", "new", "old"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["jwt-keys.json"]


def test_keyset_rejects_bad_content(tmp_path: Path) -> None:
    key = generate_signing_key("dup")
    with pytest.raises(ValueError, match="unique"):
        save_keyset(tmp_path / "k.json", [key, key])
    with pytest.raises(ValueError, match="private"):
        save_keyset(tmp_path / "k.json", [public_jwk(key)])
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": 3}')
    with pytest.raises(ValueError, match="keys"):
        load_keyset(bad)
