"""The OAuth 2.0 side of the Google fake: the token endpoint, revocation, and a test service
account key.

``POST /token`` (form-encoded) takes two grants (integrations.md §2.1):

- ``refresh_token`` with ``client_id``/``client_secret`` of a configured OAuth client and a refresh
  token the fake issued (``POST /_sandbox/oauth/refresh_tokens``) and has not revoked;
- ``urn:ietf:params:oauth:grant-type:jwt-bearer`` with an RS256 ``assertion`` signed by the
  fake's test service-account key (``GET /_sandbox/service_account_key`` gives the key file):
  ``kid`` names the key, ``iss`` is the account, ``aud`` Google's token URL (or this fake's),
  ``exp`` at most an hour after ``iat``; ``sub`` is the user impersonated (domain-wide
  delegation), who owns ``primary``.

The answer is ``{"access_token", "expires_in", "token_type": "Bearer", "scope"}``; errors are
``400 {"error": "invalid_grant" | "invalid_client" | "unsupported_grant_type", ...}``.
``POST /revoke?token=`` revokes a refresh token (and its access tokens) or an access token.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.google.errors import OAuthError
from sandbox.google.store import Clock, utc_now

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"

DEFAULT_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
SERVICE_ACCOUNT_EMAIL = "praktika-sandbox@praktika-sandbox.iam.gserviceaccount.com"


@dataclass
class AccessToken:
    """An access token and who it acts for."""

    token: str
    user: str
    expires_at: datetime
    refresh_token: str | None
    scope: str
    revoked: bool = False


@dataclass
class RefreshToken:
    """A refresh token the fake issued to a user (as Google's consent screen would)."""

    token: str
    user: str
    scope: str
    revoked: bool = False


class OAuthServer:
    """Clients, refresh and access tokens, and the test service account of one fake."""

    def __init__(
        self,
        *,
        clients: dict[str, str] | None = None,
        access_token_seconds: int = 3599,
        clock: Clock = utc_now,
    ) -> None:
        self.clients = dict(clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
        self.access_token_seconds = access_token_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self.grants: list[dict[str, Any]] = []
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_key = key.public_key()
        self.key_id = secrets.token_hex(20)

    def reset(self) -> None:
        """Forget every token (the clients and the service account key stay)."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()
            self.grants.clear()

    # ------------------------------------------------------------------ test-side helpers

    def issue_refresh_token(self, user: str, scope: str = CALENDAR_SCOPE) -> str:
        """A refresh token for ``user``, as the front end gets it after consent."""
        token = "1//sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = RefreshToken(token, user, scope)
        return token

    def service_account_key(self, token_uri: str) -> dict[str, str]:
        """A service-account key file (JSON) whose ``token_uri`` is this fake."""
        return {
            "type": "service_account",
            "project_id": "praktika-sandbox",
            "private_key_id": self.key_id,
            "private_key": self._private_pem,
            "client_email": SERVICE_ACCOUNT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }

    def expire_access_tokens(self, user: str | None = None) -> int:
        """End every live access token (of ``user``) now, before its announced expiry: the
        next API call with one is 401 ``authError``."""
        with self._lock:
            hit = [t for t in self._access.values() if not t.revoked and user in (None, t.user)]
            for token in hit:
                token.revoked = True
        return len(hit)

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token (with its access tokens) or one access token."""
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is not None:
                refresh.revoked = True
                for access in self._access.values():
                    if access.refresh_token == token:
                        access.revoked = True
                return True
            found = self._access.get(token)
            if found is not None:
                found.revoked = True
                return True
        return False

    def refresh_tokens(self) -> list[RefreshToken]:
        """Every refresh token issued."""
        with self._lock:
            return list(self._refresh.values())

    # ------------------------------------------------------------------ the API side

    def user_of(self, access_token: str) -> str | None:
        """The user a live access token acts for."""
        with self._lock:
            token = self._access.get(access_token)
            if token is None or token.revoked or token.expires_at <= self.clock():
                return None
            return token.user

    def _grant(self, user: str, scope: str, refresh_token: str | None) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        expires_at = self.clock() + timedelta(seconds=self.access_token_seconds)
        with self._lock:
            self._access[token] = AccessToken(token, user, expires_at, refresh_token, scope)
        return {
            "access_token": token,
            "expires_in": self.access_token_seconds,
            "token_type": "Bearer",
            "scope": scope,
        }

    def token(self, form: dict[str, str], own_token_uri: str) -> dict[str, Any]:
        """``POST /token``: the answer, or :class:`OAuthError`."""
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            answer = self._refresh_grant(form)
        elif grant_type == JWT_BEARER:
            answer = self._jwt_grant(form, own_token_uri)
        else:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        with self._lock:
            self.grants.append({"grant_type": grant_type, "at": self.clock().isoformat()})
        return answer

    def _refresh_grant(self, form: dict[str, str]) -> dict[str, Any]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        expected = self.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret):
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        with self._lock:
            refresh = self._refresh.get(form.get("refresh_token", ""))
        if refresh is None or refresh.revoked:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        return self._grant(refresh.user, refresh.scope, refresh.token)

    def _jwt_grant(self, form: dict[str, str], own_token_uri: str) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", "Invalid JWT: malformed") from exc
        if header.get("alg") != "RS256" or header.get("kid") != self.key_id:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                audience=[GOOGLE_TOKEN_URI, own_token_uri],
                options={"require": ["iss", "aud", "iat", "exp"]},
                leeway=30,
            )
        except jwt.InvalidSignatureError as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", f"Invalid JWT: {exc}") from exc
        if claims["iss"] != SERVICE_ACCOUNT_EMAIL:
            raise OAuthError("invalid_grant", "Invalid JWT: unknown issuer")
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            raise OAuthError("invalid_grant", "Invalid JWT: expiration too far in the future")
        scope = str(claims.get("scope") or "")
        if not scope:
            raise OAuthError("invalid_scope", "Empty or missing scope not allowed.")
        user = str(claims.get("sub") or claims["iss"])
        return self._grant(user, scope, None)
