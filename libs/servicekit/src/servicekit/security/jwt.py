"""Verification of the access JWTs issued by the cabinet service.

Every service checks the signature against cabinet's public keys (a JWKS document fetched over
HTTP with httpx, optionally preceded by a static JWKS from settings), the algorithm allow-list,
the header's ``typ`` (``at+jwt``, RFC 9068, so no other JWT cabinet might sign passes as an
access token: RFC 8725 §3.11), ``iss``, ``aud``, ``exp``, the required claims (among them the
session id ``sid``), a lifetime no longer than ``max_lifetime`` (``exp - iat``), and that the
session was not revoked (:mod:`servicekit.security.revocation`), and turns the result into a
:class:`Principal`.

Any failure raises :class:`servicekit.http.problems.Unauthorized` (401 with
``WWW-Authenticate: Bearer``) with a short, non-secret ``detail``. Key rotation: the fetched JWKS
is cached for ``cache_seconds``; a token whose ``kid`` is unknown triggers a refetch (at most once
per ``min_refresh_interval``), so a new key is picked up without a restart and a key removed from
the JWKS stops working after the next refresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidJTIError,
    InvalidSignatureError,
    InvalidSubjectError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from servicekit.http.i18n import Msg
from servicekit.http.problems import Problem, Unauthorized
from servicekit.security.revocation import RevocationList

if TYPE_CHECKING:
    from servicekit.settings import ServiceSettings

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "REQUIRED_CLAIMS",
    "SUPPORTED_ALGORITHMS",
    "JwksUnavailable",
    "Principal",
    "TokenVerifier",
    "verifier_from_settings",
]

logger = logging.getLogger("servicekit.security.jwt")

#: Claims every access token must carry (``sid``: the session, so that it can be revoked).
REQUIRED_CLAIMS: tuple[str, ...] = ("sub", "exp", "iat", "iss", "aud", "sid")

#: The ``typ`` header of an access token (RFC 9068 §2.1); ``application/at+jwt`` is accepted too.
ACCESS_TOKEN_TYPE = "at+jwt"

#: Asymmetric algorithms this verifier can be configured with, and the JWK key type each needs.
#: Symmetric (``HS*``) and ``none`` are never accepted, whatever the configuration says.
SUPPORTED_ALGORITHMS: Mapping[str, str] = MappingProxyType(
    {
        "EdDSA": "OKP",
        "RS256": "RSA",
        "RS384": "RSA",
        "RS512": "RSA",
        "PS256": "RSA",
        "PS384": "RSA",
        "PS512": "RSA",
    }
)

_OKP_CURVES = frozenset({"Ed25519"})
_MIN_RSA_BITS = 2048
_MAX_TOKEN_LENGTH = 8192
# JWK members that carry private or symmetric key material; never used for verification.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, built from a verified access token.

    ``user_id`` is the ``sub`` claim, ``roles`` the ``roles`` claim, ``token_id`` the ``jti``
    claim (``None`` when absent), ``session_id`` the ``sid`` claim and ``claims`` the whole
    verified payload (read-only).
    """

    user_id: uuid.UUID
    roles: frozenset[str] = frozenset()
    token_id: str | None = None
    session_id: str | None = None
    claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False, repr=False
    )

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds at least one of ``roles``."""
        return any(role in self.roles for role in roles)


class JwksUnavailable(Problem):
    """503: no signing keys are known because the JWKS could not be fetched.

    Raised by :meth:`TokenVerifier.verify` only when the verifier has never obtained a key at
    all (a server-side outage, not a client error); once keys are cached, a failed refresh keeps
    the cached keys and tokens are judged against them.
    """

    status = 503
    code = "auth_unavailable"
    title = Msg(
        ru="Проверка входа временно недоступна", en="Authentication temporarily unavailable"
    )


_INVALID_TOKEN = Msg(ru="Недействительный токен доступа", en="Invalid access token")
_MALFORMED = Msg(ru="Токен имеет неверный формат.", en="The token is malformed.")
_REVOKED = Msg(
    ru="Сеанс этого токена завершён; войдите снова.",
    en="The session of this token has ended; log in again.",
)
_MAX_SID_LENGTH = 64


def _unauthorized(detail: Msg) -> Unauthorized:
    # RFC 6750 §3: an invalid token is answered with error="invalid_token".
    return Unauthorized(
        detail,
        code="invalid_token",
        title=_INVALID_TOKEN,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _algorithm_not_allowed(alg: str) -> Msg:
    return Msg(
        ru=f"Алгоритм токена {alg!r} не разрешён.",
        en=f"The token algorithm {alg!r} is not allowed.",
    )


def _public_members(jwk_data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk_data.items() if k not in _PRIVATE_MEMBERS}


class _KeyStore:
    """Verification keys indexed by ``kid`` and algorithm."""

    def __init__(self, keys: dict[str, dict[str, jwt.PyJWK]]) -> None:
        self.keys = keys

    @classmethod
    def parse(cls, document: Any, algorithms: Iterable[str], *, source: str) -> _KeyStore:
        """Parse a JWKS document, skipping (with a warning) keys that cannot be used."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise ValueError(f"{source}: not a JWKS document (expected an object with 'keys')")
        allowed = list(algorithms)
        keys: dict[str, dict[str, jwt.PyJWK]] = {}
        for index, raw in enumerate(document["keys"]):
            if not isinstance(raw, Mapping):
                logger.warning("%s: key #%d is not an object; skipped", source, index)
                continue
            kid = raw.get("kid")
            if not isinstance(kid, str) or not kid:
                logger.warning("%s: key #%d has no kid; skipped", source, index)
                continue
            if raw.get("use", "sig") != "sig":
                continue
            by_alg = cls._load_key(raw, allowed, source=source)
            if by_alg:
                keys.setdefault(kid, {}).update(by_alg)
        return cls(keys)

    @staticmethod
    def _load_key(
        raw: Mapping[str, Any], allowed: Sequence[str], *, source: str
    ) -> dict[str, jwt.PyJWK]:
        kid = raw["kid"]
        kty = raw.get("kty")
        data = _public_members(raw)
        declared = raw.get("alg")
        if declared is not None:
            candidates = [declared] if declared in allowed else []
        else:
            candidates = [a for a in allowed if SUPPORTED_ALGORITHMS.get(a) == kty]
        if kty == "OKP" and raw.get("crv") not in _OKP_CURVES:
            candidates = []
        out: dict[str, jwt.PyJWK] = {}
        for alg in candidates:
            if SUPPORTED_ALGORITHMS.get(alg) != kty:
                continue
            try:
                key = jwt.PyJWK(data, algorithm=alg)
            except PyJWTError:
                logger.warning("%s: key %r (%s) cannot be loaded; skipped", source, kid, kty)
                return {}
            if isinstance(key.key, RSAPublicKey) and key.key.key_size < _MIN_RSA_BITS:
                logger.warning("%s: RSA key %r is shorter than 2048 bits; skipped", source, kid)
                return {}
            out[alg] = key
        return out

    def get(self, kid: str, alg: str) -> jwt.PyJWK | None:
        return self.keys.get(kid, {}).get(alg)

    def has_kid(self, kid: str) -> bool:
        return kid in self.keys

    def merged_with(self, other: _KeyStore) -> _KeyStore:
        """Keys of both stores; on a ``kid`` present in both, ``self`` wins."""
        merged = {kid: dict(algs) for kid, algs in other.keys.items()}
        merged.update({kid: dict(algs) for kid, algs in self.keys.items()})
        return _KeyStore(merged)


#: Verified tokens remembered per verifier (a 15-minute access token is reused many times).
VERIFIED_CACHE_SIZE = 4096


class TokenVerifier:
    """Verifies cabinet's access JWTs and returns a :class:`Principal`.

    ``algorithms`` is the allow-list (a subset of :data:`SUPPORTED_ALGORITHMS`). Keys come from a
    static ``jwks`` document and/or ``jwks_url``; static keys win on a ``kid`` clash. The URL is
    fetched with ``http_client`` (or a private :class:`httpx.AsyncClient` closed by
    :meth:`aclose`), cached for ``cache_seconds``, and refetched on an unknown ``kid`` at most once
    per ``min_refresh_interval`` seconds. ``leeway`` (seconds) tolerates clock skew on
    ``exp``/``iat``/``nbf``. ``max_lifetime`` (seconds) caps ``exp - iat``: a token minted for
    longer is refused, whoever signed it. ``revocations`` holds the revoked sessions (kept by
    :class:`~servicekit.security.revocation.RevocationFeed`). ``clock`` (monotonic seconds)
    exists for tests.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Sequence[str],
        *,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        http_client: httpx.AsyncClient | None = None,
        cache_seconds: float = 300,
        min_refresh_interval: float = 5,
        leeway: float = 10,
        max_lifetime: float = 900,
        revocations: RevocationList | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer:
            raise ValueError("issuer must not be empty")
        if not audience:
            raise ValueError("audience must not be empty")
        algs = list(dict.fromkeys(algorithms))
        if not algs:
            raise ValueError("algorithms must list at least one algorithm")
        unsupported = [a for a in algs if a not in SUPPORTED_ALGORITHMS]
        if unsupported:
            raise ValueError(
                f"unsupported JWT algorithms {unsupported}; "
                f"allowed: {sorted(SUPPORTED_ALGORITHMS)} (symmetric and 'none' are refused)"
            )
        if jwks_url is None and jwks is None:
            raise ValueError("a TokenVerifier needs jwks_url, jwks, or both")
        self.issuer = issuer
        self.audience: str | list[str] = audience if isinstance(audience, str) else list(audience)
        self.algorithms: tuple[str, ...] = tuple(algs)
        self.jwks_url = jwks_url
        self.cache_seconds = float(cache_seconds)
        self.min_refresh_interval = float(min_refresh_interval)
        self.leeway = float(leeway)
        self.max_lifetime = float(max_lifetime)
        self.revocations = revocations if revocations is not None else RevocationList()
        self._clock = clock
        self._static = (
            _KeyStore.parse(jwks, algs, source="static JWKS") if jwks is not None else None
        )
        self._remote: _KeyStore | None = None
        self._keys: _KeyStore = self._static or _KeyStore({})
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch attempt, successful or not
        self._client = http_client
        self._owns_client = http_client is None
        self._lock = asyncio.Lock()
        # Tokens already verified, by their exact text: (principal, (kid, alg, key), exp, nbf).
        # A hit re-checks the time claims and that the key is still the one in the key set (a
        # rotated-out or refetched key invalidates it), and skips the signature check and claim
        # parsing (a third of an authenticated request's CPU, measured on booking).
        self._verified: dict[str, tuple[Principal, tuple[str, str, Any], float, float]] = {}

    # -- key management -------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        return self._client

    def _cache_expired(self) -> bool:
        if self.jwks_url is None:
            return False
        if self._fetched_at is None:
            return True
        return self._clock() - self._fetched_at >= self.cache_seconds

    def _may_attempt(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self.min_refresh_interval
        )

    async def refresh(self, *, force: bool = True) -> bool:
        """Fetch the JWKS from ``jwks_url`` now; True when a new key set was installed.

        With ``force=False`` the fetch is skipped when the last attempt was less than
        ``min_refresh_interval`` seconds ago. A failed fetch keeps the previous keys.
        """
        if self.jwks_url is None:
            return False
        async with self._lock:
            if not force and not self._may_attempt():
                return False
            self._attempted_at = self._clock()
            try:
                response = await self._http().get(
                    self.jwks_url, headers={"Accept": "application/json"}
                )
                response.raise_for_status()
                remote = _KeyStore.parse(response.json(), self.algorithms, source=self.jwks_url)
            except (httpx.HTTPError, ValueError) as exc:
                logger.warning("JWKS fetch from %s failed: %s", self.jwks_url, exc)
                return False
            self._remote = remote
            self._keys = self._static.merged_with(remote) if self._static else remote
            self._fetched_at = self._clock()
            logger.info("JWKS refreshed from %s: kids=%s", self.jwks_url, sorted(remote.keys))
            return True

    def invalidate(self) -> None:
        """Forget the fetched key set's age, so the next verification refetches it."""
        self._fetched_at = None
        self._attempted_at = None

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> TokenVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _key_for(self, kid: str, alg: str) -> jwt.PyJWK:
        if self._cache_expired():
            await self.refresh(force=False)
        key = self._keys.get(kid, alg)
        if key is None and not self._keys.has_kid(kid) and self.jwks_url is not None:
            # Possibly a freshly rotated key: refetch, rate-limited.
            await self.refresh(force=False)
            key = self._keys.get(kid, alg)
        if key is not None:
            return key
        if not self._keys.keys:
            raise JwksUnavailable(
                Msg(
                    ru="Не удалось получить ключи подписи; повторите попытку чуть позже.",
                    en="The signing keys could not be obtained; try again shortly.",
                )
            )
        if self._keys.has_kid(kid):
            raise _unauthorized(
                Msg(
                    ru=f"Ключ {kid!r} не допускает алгоритм {alg!r}.",
                    en=f"The key {kid!r} does not allow the algorithm {alg!r}.",
                )
            )
        raise _unauthorized(
            Msg(
                ru="Токен подписан неизвестным ключом (kid).",
                en="The token was signed by an unknown key (kid).",
            )
        )

    # -- verification ---------------------------------------------------------------------

    def _header(self, token: str) -> tuple[str, str]:
        if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise _unauthorized(_MALFORMED)
        try:
            header = jwt.get_unverified_header(token)
        except (PyJWTError, ValueError, TypeError):
            raise _unauthorized(_MALFORMED) from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            shown = alg if isinstance(alg, str) and len(alg) <= 16 else "?"
            raise _unauthorized(_algorithm_not_allowed(shown))
        if "crit" in header or header.get("b64", True) is not True:
            # No JWS extensions are understood here; RFC 7515 §4.1.11 requires rejecting them.
            raise _unauthorized(
                Msg(
                    ru="В заголовке токена есть неподдерживаемые критичные параметры.",
                    en="The token uses unsupported critical header parameters.",
                )
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _unauthorized(
                Msg(
                    ru="В заголовке токена нет идентификатора ключа (kid).",
                    en="The token header has no key id (kid).",
                )
            )
        if len(kid) > 256:
            raise _unauthorized(_MALFORMED)
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in (
            ACCESS_TOKEN_TYPE,
            f"application/{ACCESS_TOKEN_TYPE}",
        ):
            raise _unauthorized(
                Msg(
                    ru="Это не токен доступа (typ должен быть at+jwt).",
                    en="This is not an access token (typ must be at+jwt).",
                )
            )
        return alg, kid

    async def verify(self, token: str) -> Principal:
        """Verify ``token`` and return its :class:`Principal`.

        Raises :class:`~servicekit.http.problems.Unauthorized` when the token is malformed, uses
        an algorithm outside the allow-list, names a missing or unknown ``kid``, has a bad
        signature, a wrong ``typ``, ``iss`` or ``aud``, is expired or not yet valid, lives longer
        than ``max_lifetime``, lacks a required claim, its ``sub`` is not a UUID, or its session
        was revoked. Raises :class:`JwksUnavailable` (503) only when no key has ever been
        obtained.
        """
        hit = self._verified.get(token)
        if hit is not None:
            principal, key_seen, exp, nbf = hit
            wall = time.time()
            if (
                self._keys.get(*key_seen[:2]) is key_seen[2]
                and wall <= exp + self.leeway
                and wall >= nbf - self.leeway
                and not self._cache_expired()
            ):
                self._refuse_revoked(principal)
                return principal
            del self._verified[token]
        alg, kid = self._header(token)
        key = await self._key_for(kid, alg)
        claims = self._verify_with(token, key, alg)
        principal = self._principal(claims)
        if float(claims["exp"]) - float(claims["iat"]) > self.max_lifetime:
            raise _unauthorized(
                Msg(
                    ru="Срок действия токена длиннее допустимого.",
                    en="The token lives longer than allowed.",
                )
            )
        self._refuse_revoked(principal)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        nbf = float(claims.get("nbf", float("-inf")))
        self._verified[token] = (principal, (kid, alg, key), float(claims["exp"]), nbf)
        return principal

    def _refuse_revoked(self, principal: Principal) -> None:
        if principal.session_id is None or self.revocations.is_revoked(principal.session_id):
            raise _unauthorized(_REVOKED)

    def _verify_with(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        """The token's claims once its signature and every claim check passed."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "verify_nbf": True,
                    "verify_iss": True,
                    "verify_aud": True,
                },
            )
        except ExpiredSignatureError:
            raise _unauthorized(
                Msg(ru="Срок действия токена истёк.", en="The token has expired.")
            ) from None
        except ImmatureSignatureError:
            raise _unauthorized(
                Msg(ru="Токен ещё не действует.", en="The token is not yet valid.")
            ) from None
        except InvalidIssuedAtError:
            raise _unauthorized(
                Msg(ru="Поле 'iat' токена недопустимо.", en="The token 'iat' claim is invalid.")
            ) from None
        except InvalidAudienceError:
            raise _unauthorized(
                Msg(
                    ru="Токен выпущен для другого получателя (aud).",
                    en="The token audience (aud) is not accepted.",
                )
            ) from None
        except InvalidIssuerError:
            raise _unauthorized(
                Msg(
                    ru="Токен выпущен неизвестным издателем (iss).",
                    en="The token issuer (iss) is not accepted.",
                )
            ) from None
        except MissingRequiredClaimError as exc:
            raise _unauthorized(
                Msg(
                    ru=f"В токене нет обязательного поля {exc.claim!r}.",
                    en=f"The token lacks the required claim {exc.claim!r}.",
                )
            ) from None
        except InvalidSignatureError:
            raise _unauthorized(
                Msg(ru="Подпись токена недействительна.", en="The token signature is invalid.")
            ) from None
        except InvalidAlgorithmError:
            raise _unauthorized(_algorithm_not_allowed(alg)) from None
        except (InvalidSubjectError, InvalidJTIError):
            raise _unauthorized(
                Msg(
                    ru="Поле 'sub' или 'jti' токена имеет неверный формат.",
                    en="The token 'sub' or 'jti' claim is malformed.",
                )
            ) from None
        except DecodeError:
            raise _unauthorized(_MALFORMED) from None
        except InvalidTokenError:
            raise _unauthorized(
                Msg(ru="Токен недействителен.", en="The token is invalid.")
            ) from None
        return claims

    @staticmethod
    def _principal(claims: dict[str, Any]) -> Principal:
        sub = claims.get("sub")
        try:
            user_id = uuid.UUID(sub) if isinstance(sub, str) else None
        except ValueError:
            user_id = None
        if user_id is None:
            raise _unauthorized(
                Msg(
                    ru="Поле 'sub' токена не является идентификатором пользователя.",
                    en="The token subject (sub) is not a valid user id.",
                )
            )
        raw_roles = claims.get("roles", [])
        if isinstance(raw_roles, str):
            raw_roles = [raw_roles]
        if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
            raise _unauthorized(
                Msg(
                    ru="Поле 'roles' токена должно быть списком строк.",
                    en="The token 'roles' claim must be a list of strings.",
                )
            )
        sid = claims.get("sid")
        if not isinstance(sid, str) or not sid or len(sid) > _MAX_SID_LENGTH:
            raise _unauthorized(
                Msg(
                    ru="Поле 'sid' токена имеет неверный формат.",
                    en="The token 'sid' claim is malformed.",
                )
            )
        jti = claims.get("jti")
        return Principal(
            user_id=user_id,
            roles=frozenset(raw_roles),
            token_id=jti if isinstance(jti, str) else None,
            session_id=sid,
            claims=MappingProxyType(claims),
        )


def verifier_from_settings(
    settings: ServiceSettings,
    *,
    http_client: httpx.AsyncClient | None = None,
    revocations: RevocationList | None = None,
) -> TokenVerifier:
    """Build the service's :class:`TokenVerifier` from its settings.

    Uses ``jwt_issuer``, ``jwt_audience``, ``jwt_algorithms``, ``jwks_url``,
    ``jwt_public_jwks`` (a JWKS as JSON), ``jwks_cache_seconds``, ``jwks_min_refresh_seconds``
    and ``jwt_max_lifetime_seconds``.
    """
    static: dict[str, Any] | None = None
    if settings.jwt_public_jwks:
        try:
            static = json.loads(settings.jwt_public_jwks)
        except json.JSONDecodeError as exc:
            raise ValueError(f"JWT_PUBLIC_JWKS is not valid JSON: {exc.msg}") from None
    return TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=settings.jwt_algorithms,
        jwks_url=settings.jwks_url or None,
        jwks=static,
        http_client=http_client,
        cache_seconds=settings.jwks_cache_seconds,
        min_refresh_interval=settings.jwks_min_refresh_seconds,
        max_lifetime=settings.jwt_max_lifetime_seconds,
        revocations=revocations,
    )
