"""JWT verification, JWKS rotation and the FastAPI auth dependencies, end to end over ASGI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from servicekit.http.problems import Unauthorized, install_problem_handlers
from servicekit.security import (
    CurrentPrincipal,
    JwksUnavailable,
    Principal,
    TokenVerifier,
    ensure_owner,
    generate_signing_key,
    issue_access_token,
    public_jwk,
    public_jwks,
    require_roles,
    verifier_from_settings,
)
from servicekit.settings import ServiceSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISS = "praktika-cabinet"
AUD = "praktika"
JWKS_URL = "http://cabinet.test/.well-known/jwks.json"
AT_HEADER = {"kid": "k1", "typ": "at+jwt"}


@dataclass
class Clock:
    """A hand-driven monotonic clock."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JwksServer:
    """A tiny cabinet stand-in serving ``/.well-known/jwks.json`` from a mutable key list."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    fail: bool = False

    def app(self) -> Starlette:
        async def jwks(_: Request) -> JSONResponse:
            self.fetches += 1
            if self.fail:
                return JSONResponse({"error": "down"}, status_code=503)
            return JSONResponse(public_jwks(self.keys))

        return Starlette(routes=[Route("/.well-known/jwks.json", jwks)])


def rsa_private_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data: dict[str, Any] = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key))
    data.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return data


def token_for(key: dict[str, Any], subject: uuid.UUID | str | None = None, **kwargs: Any) -> str:
    params: dict[str, Any] = {"roles": ["client"], "issuer": ISS, "audience": AUD}
    params.update(kwargs)
    token: str = issue_access_token(key, subject=subject or uuid.uuid4(), **params)
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def good_claims(sub: uuid.UUID | None = None) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": str(sub or uuid.uuid4()),
        "roles": ["admin"],
        "iat": now,
        "exp": now + 600,
        "sid": uuid.uuid4().hex,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key1() -> dict[str, Any]:
    key: dict[str, Any] = generate_signing_key("k1")
    return key


@pytest.fixture
def server(key1: dict[str, Any]) -> JwksServer:
    return JwksServer(keys=[key1])


@pytest.fixture
async def verifier(server: JwksServer, clock: Clock) -> AsyncIterator[TokenVerifier]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app()), base_url="http://cabinet.test"
    ) as http:
        yield TokenVerifier(
            ISS,
            AUD,
            ["EdDSA"],
            jwks_url=JWKS_URL,
            http_client=http,
            cache_seconds=300,
            min_refresh_interval=5,
            clock=clock,
        )


def make_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {"user_id": str(principal.user_id), "roles": sorted(principal.roles)}

    @app.get("/admin")
    async def admin(
        principal: Annotated[Principal, Depends(require_roles("admin"))],
    ) -> dict[str, Any]:
        return {"admin": str(principal.user_id)}

    @app.get("/staff", dependencies=[Depends(require_roles("admin", "specialist"))])
    async def staff() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/diaries/{owner_id}")
    async def diary(owner_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        ensure_owner(principal, owner_id)
        return {"owner": str(owner_id)}

    return app


@pytest.fixture
async def client(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    # English details, so the tests below can tell which check refused a token by its words.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(verifier)),
        base_url="http://svc.test",
        headers={"Accept-Language": "en"},
    ) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    assert body["status"] == 401
    assert body["code"] in {"unauthorized", "invalid_token"}
    assert body["detail"]
    return body


# -- happy paths ----------------------------------------------------------------------------


async def test_valid_token_gives_principal(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    user = uuid.uuid4()
    response = await client.get("/me", headers=bearer(token_for(key1, user)))
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user), "roles": ["client"]}


async def test_principal_fields(verifier: TokenVerifier, key1: dict[str, Any]) -> None:
    user = uuid.uuid4()
    token = token_for(key1, user, roles=["client", "specialist"], extra_claims={"tz": "UTC"})
    principal = await verifier.verify(token)
    assert principal.user_id == user
    assert principal.roles == frozenset({"client", "specialist"})
    assert principal.has_role("admin", "specialist")
    assert not principal.has_role("admin")
    assert principal.token_id == principal.claims["jti"]
    assert principal.claims["tz"] == "UTC"
    with pytest.raises(TypeError):
        principal.claims["tz"] = "x"


async def test_rs256_supported_when_allowed() -> None:
    rsa_key = rsa_private_jwk("r1")
    ed_key = generate_signing_key("e1")
    verifier = TokenVerifier(ISS, AUD, ["EdDSA", "RS256"], jwks=public_jwks([rsa_key, ed_key]))
    user = uuid.uuid4()
    assert (await verifier.verify(token_for(rsa_key, user))).user_id == user
    assert (await verifier.verify(token_for(ed_key, user))).user_id == user


# -- 401 cases over HTTP --------------------------------------------------------------------


async def test_missing_header(client: httpx.AsyncClient) -> None:
    body = assert_401(await client.get("/me"))
    assert body["code"] == "unauthorized"
    assert_401(await client.get("/admin"))


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer a b"]
)
async def test_not_bearer(client: httpx.AsyncClient, header: str) -> None:
    assert_401(await client.get("/me", headers={"Authorization": header}))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 10000, "e30.e30.", "..", "%%.%%.%%"])
async def test_garbage(client: httpx.AsyncClient, token: str) -> None:
    body = assert_401(await client.get("/me", headers=bearer(token)))
    assert body["code"] == "invalid_token"


async def test_non_ascii_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={b"Authorization": "Bearer é.é.é".encode()})
    assert_401(response)


async def test_alg_none(client: httpx.AsyncClient) -> None:
    for alg in ("none", "None", "NONE"):
        token = raw_token({"alg": alg, "typ": "at+jwt", "kid": "k1"}, good_claims())
        body = assert_401(await client.get("/me", headers=bearer(token)))
        assert "not allowed" in body["detail"]


async def test_hs256_key_confusion(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    pub = public_jwk(key1)
    secrets_tried = [
        base64.urlsafe_b64decode(pub["x"] + "=="),  # raw public key bytes
        json.dumps(pub).encode(),  # the JWK text itself
        pub["x"].encode(),
    ]
    for secret in secrets_tried:
        token = raw_token(
            {"alg": "HS256", "typ": "at+jwt", "kid": "k1"},
            good_claims(),
            lambda data, s=secret: hmac.new(s, data, hashlib.sha256).digest(),
        )
        body = assert_401(await client.get("/admin", headers=bearer(token)))
        assert "HS256" in body["detail"]


async def test_rs256_refused_when_only_eddsa_allowed(
    client: httpx.AsyncClient, server: JwksServer
) -> None:
    rsa_key = rsa_private_jwk("r1")
    server.keys.append(rsa_key)  # even a published RSA key does not widen the allow-list
    body = assert_401(await client.get("/me", headers=bearer(token_for(rsa_key))))
    assert "RS256" in body["detail"]


async def test_wrong_audience(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    body = assert_401(await client.get("/me", headers=bearer(token_for(key1, audience="other"))))
    assert "aud" in body["detail"]


async def test_wrong_issuer(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    body = assert_401(await client.get("/me", headers=bearer(token_for(key1, issuer="evil"))))
    assert "iss" in body["detail"]


async def test_expired(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    old = datetime.now(UTC) - timedelta(hours=2)
    body = assert_401(await client.get("/me", headers=bearer(token_for(key1, now=old))))
    assert "expired" in body["detail"]


async def test_expiry_leeway(verifier: TokenVerifier, key1: dict[str, Any]) -> None:
    # Expired 5 s ago: inside the default 10 s leeway.
    issued = datetime.now(UTC) - timedelta(seconds=905)
    await verifier.verify(token_for(key1, now=issued, ttl_seconds=900))


async def test_unknown_kid(client: httpx.AsyncClient) -> None:
    stranger = generate_signing_key("nobody-knows-me")
    body = assert_401(await client.get("/me", headers=bearer(token_for(stranger))))
    assert "unknown key" in body["detail"]


async def test_missing_kid(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    no_kid = {k: v for k, v in key1.items() if k != "kid"}
    token = pyjwt.encode(good_claims(), pyjwt.PyJWK(no_kid).key, algorithm="EdDSA")
    body = assert_401(await client.get("/me", headers=bearer(token)))
    assert "kid" in body["detail"]


async def test_signature_by_other_key_with_known_kid(client: httpx.AsyncClient) -> None:
    impostor = generate_signing_key("k1")
    body = assert_401(await client.get("/me", headers=bearer(token_for(impostor))))
    assert "signature" in body["detail"]


async def test_tampered_payload(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    header, _, sig = token_for(key1).split(".")
    claims = good_claims()
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{sig}"
    assert_401(await client.get("/admin", headers=bearer(forged)))


async def test_sub_not_uuid(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    body = assert_401(await client.get("/me", headers=bearer(token_for(key1, "user-42"))))
    assert "sub" in body["detail"]


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "iss", "aud", "sid"])
async def test_missing_required_claim(
    client: httpx.AsyncClient, key1: dict[str, Any], claim: str
) -> None:
    claims = good_claims()
    del claims[claim]
    token = pyjwt.encode(
        claims, pyjwt.PyJWK(key1).key, algorithm="EdDSA", headers={"kid": "k1", "typ": "at+jwt"}
    )
    body = assert_401(await client.get("/me", headers=bearer(token)))
    assert claim in body["detail"]


async def test_crit_header_refused(verifier: TokenVerifier, key1: dict[str, Any]) -> None:
    token = pyjwt.encode(
        good_claims(),
        pyjwt.PyJWK(key1).key,
        algorithm="EdDSA",
        headers={"kid": "k1", "typ": "at+jwt", "crit": ["exp-ext"], "exp-ext": 1},
    )
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_bad_roles_claim(verifier: TokenVerifier, key1: dict[str, Any]) -> None:
    claims = {**good_claims(), "roles": {"admin": True}}
    token = pyjwt.encode(
        claims, pyjwt.PyJWK(key1).key, algorithm="EdDSA", headers={"kid": "k1", "typ": "at+jwt"}
    )
    with pytest.raises(Unauthorized, match="roles"):
        await verifier.verify(token)


# -- roles and ownership --------------------------------------------------------------------


async def test_role_required(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    response = await client.get("/admin", headers=bearer(token_for(key1, roles=["client"])))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "forbidden"

    admin = uuid.uuid4()
    response = await client.get("/admin", headers=bearer(token_for(key1, admin, roles=["admin"])))
    assert response.status_code == 200
    assert response.json() == {"admin": str(admin)}

    ok = await client.get("/staff", headers=bearer(token_for(key1, roles=["specialist"])))
    assert ok.status_code == 200
    no = await client.get("/staff", headers=bearer(token_for(key1, roles=["moderator"])))
    assert no.status_code == 403


async def test_ownership(client: httpx.AsyncClient, key1: dict[str, Any]) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    path = f"/diaries/{owner}"
    assert (await client.get(path, headers=bearer(token_for(key1, owner)))).status_code == 200
    response = await client.get(path, headers=bearer(token_for(key1, other)))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    admin = token_for(key1, other, roles=["admin"])
    assert (await client.get(path, headers=bearer(admin))).status_code == 200
    specialist = token_for(key1, other, roles=["specialist"])
    assert (await client.get(path, headers=bearer(specialist))).status_code == 404


def test_ensure_owner_direct() -> None:
    me = Principal(user_id=uuid.uuid4(), roles=frozenset({"client"}))
    ensure_owner(me, me.user_id)
    ensure_owner(me, str(me.user_id))
    for owner in (uuid.uuid4(), None, "not-a-uuid"):
        with pytest.raises(Exception, match="not found") as info:
            ensure_owner(me, owner)
        assert getattr(info.value, "status", None) == 404
    staff = Principal(user_id=uuid.uuid4(), roles=frozenset({"moderator"}))
    ensure_owner(staff, me.user_id, staff_roles=("moderator",))


def test_openapi_declares_bearer(verifier: TokenVerifier) -> None:
    schema = make_app(verifier).openapi()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# -- JWKS fetching and rotation -------------------------------------------------------------


async def test_rotation_picks_up_new_key_and_drops_removed_key(
    client: httpx.AsyncClient, server: JwksServer, key1: dict[str, Any], clock: Clock
) -> None:
    old_token = token_for(key1)
    assert (await client.get("/me", headers=bearer(old_token))).status_code == 200
    assert server.fetches == 1

    # cabinet rotates: the new key is published first, the old one kept for a while.
    key2 = generate_signing_key("k2")
    server.keys.insert(0, key2)
    clock.advance(6)  # past min_refresh_interval
    new_token = token_for(key2)
    assert (await client.get("/me", headers=bearer(new_token))).status_code == 200
    assert server.fetches == 2  # one refetch on the unknown kid, no restart

    # The old key is withdrawn; cached keys keep working until the cache expires...
    server.keys.remove(key1)
    assert (await client.get("/me", headers=bearer(old_token))).status_code == 200
    assert server.fetches == 2
    # ...then the refresh drops it.
    clock.advance(301)
    assert_401(await client.get("/me", headers=bearer(old_token)))
    assert server.fetches == 3
    assert (await client.get("/me", headers=bearer(new_token))).status_code == 200


async def test_unknown_kid_refetch_is_rate_limited(
    verifier: TokenVerifier, server: JwksServer, key1: dict[str, Any], clock: Clock
) -> None:
    await verifier.verify(token_for(key1))
    assert server.fetches == 1
    clock.advance(6)
    for i in range(20):
        with pytest.raises(Unauthorized, match="unknown key"):
            await verifier.verify(token_for(generate_signing_key(f"random-{i}")))
    assert server.fetches == 2  # one refetch for the whole burst
    clock.advance(6)
    with pytest.raises(Unauthorized):
        await verifier.verify(token_for(generate_signing_key("later")))
    assert server.fetches == 3


async def test_failed_refresh_keeps_cached_keys(
    verifier: TokenVerifier, server: JwksServer, key1: dict[str, Any], clock: Clock
) -> None:
    await verifier.verify(token_for(key1))
    server.fail = True
    clock.advance(301)
    await verifier.verify(token_for(key1))  # stale keys still used while cabinet is down
    assert server.fetches == 2


async def test_jwks_unavailable_without_any_key(
    server: JwksServer, key1: dict[str, Any], verifier: TokenVerifier
) -> None:
    server.fail = True
    with pytest.raises(JwksUnavailable):
        await verifier.verify(token_for(key1))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(verifier)), base_url="http://svc.test"
    ) as c:
        response = await c.get("/me", headers=bearer(token_for(key1)))
    assert response.status_code == 503
    assert response.json()["code"] == "auth_unavailable"


async def test_static_and_url_keys_combined(
    server: JwksServer, key1: dict[str, Any], clock: Clock
) -> None:
    static_key = generate_signing_key("static-1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server.app()), base_url="http://cabinet.test"
    ) as http:
        verifier = TokenVerifier(
            ISS,
            AUD,
            ["EdDSA"],
            jwks_url=JWKS_URL,
            jwks=public_jwks([static_key]),
            http_client=http,
            clock=clock,
        )
        await verifier.verify(token_for(static_key))
        await verifier.verify(token_for(key1))
        # A private JWK in the static set is used by its public half only.
        verifier2 = TokenVerifier(ISS, AUD, ["EdDSA"], jwks={"keys": [static_key]})
        await verifier2.verify(token_for(static_key))


async def test_verifier_from_settings(key1: dict[str, Any]) -> None:
    settings = ServiceSettings(
        environment="test",
        jwks_url=None,
        jwt_public_jwks=json.dumps(public_jwks([key1])),
        jwt_algorithms="EdDSA",
    )
    verifier = verifier_from_settings(settings)
    assert verifier.algorithms == ("EdDSA",)
    user = uuid.uuid4()
    assert (await verifier.verify(token_for(key1, user))).user_id == user
    await verifier.aclose()


def test_verifier_refuses_symmetric_and_none() -> None:
    for algs in (["HS256"], ["none"], ["EdDSA", "HS512"], []):
        with pytest.raises(ValueError, match="algorithm"):
            TokenVerifier(ISS, AUD, algs, jwks={"keys": []})
    with pytest.raises(ValueError, match="jwks"):
        TokenVerifier(ISS, AUD, ["EdDSA"])


async def test_oct_keys_in_jwks_are_ignored(key1: dict[str, Any]) -> None:
    secret = b"s" * 32
    jwks = {"keys": [{"kty": "oct", "kid": "k1", "k": b64(secret), "alg": "HS256"}]}
    verifier = TokenVerifier(ISS, AUD, ["EdDSA"], jwks=jwks)
    token = pyjwt.encode(
        good_claims(), secret, algorithm="HS256", headers={"kid": "k1", "typ": "at+jwt"}
    )
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_a_remembered_token_still_expires(
    verifier: TokenVerifier, key1: dict[str, Any]
) -> None:
    """Verified tokens are remembered (no signature check on reuse), but never past their
    ``exp`` (plus the leeway): the wall clock is read on every use."""
    verifier.leeway = 0
    token = token_for(key1, ttl_seconds=2)
    principal = await verifier.verify(token)
    assert await verifier.verify(token) is principal  # remembered, not verified again
    await asyncio.sleep(2.1)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)


# -- RFC 8725 hardening and revocation (issue 12, point 6) ---------------------------------------


async def test_a_jwt_that_is_not_an_access_token_is_refused(
    client: httpx.AsyncClient, key1: dict[str, Any]
) -> None:
    """Same key, same claims, but typ JWT (an ID token, a link token...): not an access token."""
    for typ in ("JWT", "jwt", None):
        headers: dict[str, Any] = {"kid": "k1"} if typ is None else {"kid": "k1", "typ": typ}
        token = pyjwt.encode(good_claims(), pyjwt.PyJWK(key1).key, "EdDSA", headers=headers)
        if typ is None:
            # pyjwt adds typ JWT by itself; drop it from the header by hand
            head = {"alg": "EdDSA", "kid": "k1"}
            signing_input = f"{b64(json.dumps(head).encode())}.{token.split('.')[1]}"
            sig = pyjwt.PyJWK(key1).Algorithm.sign(signing_input.encode(), pyjwt.PyJWK(key1).key)
            token = f"{signing_input}.{b64(sig)}"
        body = assert_401(await client.get("/me", headers=bearer(token)))
        assert "at+jwt" in body["detail"]
    good = pyjwt.encode(
        good_claims(), pyjwt.PyJWK(key1).key, "EdDSA", headers={"kid": "k1", "typ": "at+JWT"}
    )
    assert (await client.get("/me", headers=bearer(good))).status_code == 200


async def test_a_token_minted_for_longer_than_the_cap_is_refused(
    client: httpx.AsyncClient, key1: dict[str, Any]
) -> None:
    """A signing key that leaked into a tool minting day-long tokens mints nothing usable."""
    long = token_for(key1, ttl_seconds=24 * 3600)
    body = assert_401(await client.get("/me", headers=bearer(long)))
    assert "longer than allowed" in body["detail"]
    assert (await client.get("/me", headers=bearer(token_for(key1)))).status_code == 200


async def test_a_revoked_session_is_refused_even_when_its_token_was_seen(
    client: httpx.AsyncClient, verifier: TokenVerifier, key1: dict[str, Any]
) -> None:
    sid, other = uuid.uuid4(), uuid.uuid4()
    token = token_for(key1, session_id=sid)
    assert (await client.get("/me", headers=bearer(token))).status_code == 200  # now cached
    verifier.revocations.revoke([str(sid)], until=datetime.now(UTC).timestamp() + 60)
    body = assert_401(await client.get("/me", headers=bearer(token)))
    assert "session of this token has ended" in body["detail"]
    # a new token of the same session is refused too; another session is not
    assert_401(await client.get("/me", headers=bearer(token_for(key1, session_id=sid))))
    fine = token_for(key1, session_id=other)
    assert (await client.get("/me", headers=bearer(fine))).status_code == 200
    # past the moment its tokens would have expired anyway, it is forgotten
    verifier.revocations.revoke([sid], until=datetime.now(UTC).timestamp() - 1)
    assert (await client.get("/me", headers=bearer(token))).status_code == 401  # max() kept
