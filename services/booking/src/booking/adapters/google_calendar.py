"""Google Calendar v3 as booking uses it: google-auth for access tokens, httpx for the REST calls,
tenacity for retries (integrations.md §2).

- Credentials: a specialist's refresh token (``google.oauth2.credentials``, the token URI from
  settings) or the practice's service account impersonating the specialist
  (``google.oauth2.service_account`` with ``subject``; the token URI from the key file). google-auth
  is synchronous: a refresh runs in a worker thread over a small httpx transport. Access tokens
  are kept per connection in this object (one per runtime), never in the database.
- Every call: 401 refreshes the token once and repeats; 403 ``rateLimitExceeded`` /
  ``userRateLimitExceeded``, 429, 5xx and timeouts are retried with exponential backoff and full
  jitter (tenacity's ``wait_random_exponential``), up to ``max_attempts``; anything else is
  :class:`GooglePermanent`. A refresh Google refuses (``invalid_grant``: revoked or expired
  consent) is :class:`CredentialsRevoked`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import google.auth.transport
import httpx
from google.auth.credentials import Credentials
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

SCOPES = ("https://www.googleapis.com/auth/calendar",)
_RATE_LIMITS = {"rateLimitExceeded", "userRateLimitExceeded"}


class GoogleCalendarError(Exception):
    """A call that did not succeed."""

    def __init__(self, status: int | None, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason


class GoogleTransient(GoogleCalendarError):
    """Worth trying again later (rate limits, 5xx, no answer)."""


class GooglePermanent(GoogleCalendarError):
    """Google refuses this for good (bad request, no access, auth still failing)."""


class CredentialsRevoked(GooglePermanent):
    """The refresh token was revoked or the service account may not act for the user."""


@dataclass(frozen=True)
class ConnectionInfo:
    """What a call needs of a connection: whose, which calendar, the decrypted credentials."""

    specialist_id: uuid.UUID
    kind: str  # oauth, service_account
    calendar_id: str
    credentials: Mapping[str, str]

    @property
    def cache_key(self) -> tuple[uuid.UUID, str]:
        """Access tokens are kept per specialist and credentials."""
        return self.specialist_id, json.dumps(dict(self.credentials), sort_keys=True)


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class _HttpxRequest(google.auth.transport.Request):
    """google-auth's transport over a synchronous httpx client (used in a worker thread)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        try:
            response = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]
        return _Response(response)


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        errors = error.get("errors") or [{}]
        return str(errors[0].get("reason") or error.get("status") or "unknown")
    except (ValueError, AttributeError):
        return "unknown"


class GoogleCalendarClient:
    """One runtime's access to Google Calendar for every connected specialist."""

    def __init__(
        self,
        *,
        api_base: str,
        token_uri: str,
        revoke_uri: str,
        client_id: str,
        client_secret: str,
        service_account_key: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        retry_base: float = 1.0,
        retry_max: float = 32.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.token_uri = token_uri
        self.revoke_uri = revoke_uri
        self.client_id = client_id
        self.client_secret = client_secret
        self.service_account_key = dict(service_account_key) if service_account_key else None
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.webhook_url = ""
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._token_http = httpx.Client(timeout=timeout)
        self._credentials: dict[tuple[uuid.UUID, str], Credentials] = {}

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()
        self._token_http.close()

    # ------------------------------------------------------------------ tokens

    def _credentials_for(self, conn: ConnectionInfo) -> Credentials:
        found = self._credentials.get(conn.cache_key)
        if found is not None:
            return found
        creds: Credentials
        if conn.kind == "service_account":
            if self.service_account_key is None:
                raise CredentialsRevoked(None, "no_service_account", "no key configured")
            creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                self.service_account_key, scopes=list(SCOPES), subject=conn.credentials["subject"]
            )
        else:
            creds = oauth2_credentials.Credentials(  # type: ignore[no-untyped-call]
                token=None,
                refresh_token=conn.credentials["refresh_token"],
                token_uri=self.token_uri,
                client_id=self.client_id,
                client_secret=self.client_secret,
                scopes=list(SCOPES),
            )
        self._credentials = {
            k: v for k, v in self._credentials.items() if k[0] != conn.specialist_id
        }
        self._credentials[conn.cache_key] = creds
        return creds

    async def _access_token(self, conn: ConnectionInfo, *, refresh: bool = False) -> str:
        creds = self._credentials_for(conn)
        if refresh or not creds.valid:
            request = _HttpxRequest(self._token_http)
            try:
                await asyncio.to_thread(creds.refresh, request)
            except RefreshError as exc:
                retryable = getattr(exc, "retryable", False)
                if retryable:
                    raise GoogleTransient(None, "token_endpoint", str(exc)) from exc
                raise CredentialsRevoked(400, "invalid_grant", str(exc)) from exc
            except TransportError as exc:
                raise GoogleTransient(None, "token_endpoint", str(exc)) from exc
        token = creds.token
        assert token is not None
        return str(token)

    def forget(self, specialist_id: uuid.UUID) -> None:
        """Drop the access tokens of a specialist (disconnected)."""
        self._credentials = {k: v for k, v in self._credentials.items() if k[0] != specialist_id}

    # ------------------------------------------------------------------ one call

    async def _once(
        self,
        conn: ConnectionInfo,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        accept: tuple[int, ...],
    ) -> httpx.Response:
        url = f"{self.api_base}/{path.lstrip('/')}"
        response: httpx.Response | None = None
        for refreshed in (False, True):
            token = await self._access_token(conn, refresh=refreshed)
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:  # timeouts, refused connections
                raise GoogleTransient(None, type(exc).__name__, str(exc)) from exc
            if response.status_code != 401:
                break
        assert response is not None
        status = response.status_code
        if status < 300 or status in accept:
            return response
        reason = _reason(response)
        if status == 401:
            raise CredentialsRevoked(status, reason, "401 after a fresh token")
        if status == 429 or status >= 500 or (status == 403 and reason in _RATE_LIMITS):
            raise GoogleTransient(status, reason)
        raise GooglePermanent(status, reason)

    async def call(
        self,
        conn: ConnectionInfo,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API call with the retries of the module docstring; statuses in ``accept`` are
        answers, not errors (e.g. 409 for an insert, 410 for a delete or a sync)."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(GoogleTransient),
            wait=wait_random_exponential(multiplier=self.retry_base, max=self.retry_max),
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(
                    conn, method, path, params=params, body=body, headers=headers, accept=accept
                )
        raise AssertionError("tenacity re-raises the last error")  # pragma: no cover

    # ------------------------------------------------------------------ the calls booking makes

    def _events(self, conn: ConnectionInfo) -> str:
        return f"calendars/{conn.calendar_id}/events"

    async def insert_event(
        self, conn: ConnectionInfo, event: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """``events.insert``; ``None`` when the id exists (409 ``duplicate``: done before)."""
        response = await self.call(
            conn,
            "POST",
            self._events(conn),
            params={"sendUpdates": "none"},
            body=event,
            accept=(409,),
        )
        return None if response.status_code == 409 else dict(response.json())

    async def put_event(
        self, conn: ConnectionInfo, event_id: str, event: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """``events.update`` (restores a deleted event too); ``None`` if there is none."""
        response = await self.call(
            conn,
            "PUT",
            f"{self._events(conn)}/{event_id}",
            params={"sendUpdates": "none"},
            body=event,
            accept=(404,),
        )
        return None if response.status_code == 404 else dict(response.json())

    async def delete_event(self, conn: ConnectionInfo, event_id: str) -> None:
        """``events.delete``; already deleted (410) or never made (404) is done too."""
        await self.call(
            conn,
            "DELETE",
            f"{self._events(conn)}/{event_id}",
            params={"sendUpdates": "none"},
            accept=(404, 410),
        )

    async def changes(
        self, conn: ConnectionInfo, *, sync_token: str | None, time_min: str | None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
        """``events.list`` page by page: ``(items, next_sync_token)`` (the token only with the
        last page). A sync token Google no longer takes raises :class:`SyncTokenExpired`."""
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {"maxResults": 250, "singleEvents": "true"}
            if page_token is not None:
                params["pageToken"] = page_token
            if sync_token is not None:
                params["syncToken"] = sync_token
            else:
                params["showDeleted"] = "true"
                if time_min is not None:
                    params["timeMin"] = time_min
            response = await self.call(
                conn, "GET", self._events(conn), params=params, accept=(410,)
            )
            if response.status_code == 410:
                raise SyncTokenExpired(410, _reason(response))
            page = response.json()
            page_token = page.get("nextPageToken")
            yield list(page.get("items") or []), page.get("nextSyncToken")
            if page_token is None:
                return

    async def watch(
        self,
        conn: ConnectionInfo,
        *,
        channel_id: str,
        token: str,
        address: str,
        expiration_ms: int,
    ) -> dict[str, Any]:
        """``events.watch``: the Channel."""
        response = await self.call(
            conn,
            "POST",
            f"{self._events(conn)}/watch",
            body={
                "id": channel_id,
                "type": "web_hook",
                "address": address,
                "token": token,
                "expiration": expiration_ms,
            },
        )
        return dict(response.json())

    async def stop_channel(self, conn: ConnectionInfo, channel_id: str, resource_id: str) -> None:
        """``channels.stop`` (an unknown channel is stopped already)."""
        await self.call(
            conn,
            "POST",
            "channels/stop",
            body={"id": channel_id, "resourceId": resource_id},
            accept=(404,),
        )

    async def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token at Google (``True`` if Google took it)."""
        try:
            response = await self._http.post(
                self.revoke_uri,
                data={"token": refresh_token},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


class SyncTokenExpired(GooglePermanent):
    """410 on a sync: start over with a full sync."""
