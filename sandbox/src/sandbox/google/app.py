"""The Google Calendar fake's HTTP app: Calendar API v3, the OAuth token endpoint, inspection.

Calendar API v3 under ``/calendar/v3`` (``Authorization: Bearer`` from ``POST /token``):

- ``POST|GET calendars/{calendarId}/events`` (insert; list with ``maxResults``, ``pageToken``,
  ``syncToken``, ``showDeleted``, ``timeMin``/``timeMax``, ``privateExtendedProperty``)
- ``GET|PUT|PATCH|DELETE calendars/{calendarId}/events/{eventId}`` (``If-Match`` → 412)
- ``POST calendars/{calendarId}/events/watch``, ``POST channels/stop``, ``POST freeBusy``

``primary`` is the calendar named by the token's user. Every change of a calendar (through the API
or the inspection API, as the user editing in Google would) POSTs a notification without a body
to each live channel: ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``,
``X-Goog-Channel-Expiration``, ``X-Goog-Resource-ID``, ``X-Goog-Resource-URI``,
``X-Goog-Resource-State`` (``sync`` right after ``watch``, then
``exists``) and ``X-Goog-Message-Number``.

OAuth: ``POST /token``, ``POST /revoke`` (see :mod:`sandbox.google.oauth`).

Inspection (besides :mod:`sandbox.kit`'s requests, faults, reset):

- ``GET  /_sandbox/`` HTML page: calendars and their events, channels, notifications, grants
- ``GET  /_sandbox/calendars``; ``GET /_sandbox/calendars/{id}/events?include_deleted=``
- ``POST /_sandbox/calendars/{id}/events`` (an event the user adds in Google),
  ``PATCH|DELETE /_sandbox/calendars/{id}/events/{eventId}`` (the user moves or deletes one)
- ``POST /_sandbox/calendars/{id}/expire_sync_tokens`` (the next sync with an old token is 410)
- ``POST /_sandbox/oauth/refresh_tokens {"user"}`` → ``{"refresh_token"}`` (what consent gives)
- ``POST /_sandbox/oauth/revoke {"token"}``; ``POST /_sandbox/oauth/expire_access_tokens``
- ``GET  /_sandbox/oauth/grants``; ``GET /_sandbox/service_account_key``
- ``GET  /_sandbox/channels``; ``GET /_sandbox/notifications?count=&wait=``;
  ``PUT /_sandbox/notifications/paused {"paused": true}`` (notifications are lost while paused)
- ``POST /_sandbox/google_faults {"fault": "rate_limit_403", "method", "path", "times"}``: queue a
  :mod:`sandbox.kit` fault whose body is Google's error (kinds in
  :data:`sandbox.google.errors.FAULTS`)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import Body, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.google.errors import FAULTS, GoogleError, OAuthError, auth_error, bad_request
from sandbox.google.oauth import OAuthServer
from sandbox.google.store import CalendarStore, Channel, Clock, parse_time, rfc3339, utc_now
from sandbox.kit import MAX_WAIT_SECONDS, FaultSpec, create_sandbox_app, poll_until, sandbox_state
from sandbox.pages import PAGE_PATH, newest_first, render_page

API = "/calendar/v3"
DEFAULT_CHANNEL_TTL = timedelta(days=7)


class Delivery(BaseModel):
    """One notification POSTed to a channel's address."""

    id: int
    channel_id: str
    calendar_id: str
    state: str
    message_number: int
    address: str
    sent_at: datetime
    status_code: int | None = None
    error: str | None = None


class GoogleFaultRequest(BaseModel):
    """Body of ``POST /_sandbox/google_faults``."""

    model_config = ConfigDict(extra="forbid")

    fault: str = Field(description="One of " + ", ".join(FAULTS))
    method: str | None = None
    path: str | None = Field(default=None, description="Regex on the path, e.g. /events$")
    times: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0.0)


class RefreshTokenRequest(BaseModel):
    """Body of ``POST /_sandbox/oauth/refresh_tokens``."""

    user: str
    scope: str = "https://www.googleapis.com/auth/calendar"


class RevokeRequest(BaseModel):
    """Body of ``POST /_sandbox/oauth/revoke``."""

    token: str


class Paused(BaseModel):
    """Body and answer of ``PUT /_sandbox/notifications/paused``."""

    paused: bool


def google_fault(
    fault: str,
    *,
    method: str | None = None,
    path: str | None = None,
    times: int = 1,
    delay_seconds: float = 0.0,
) -> FaultSpec:
    """A :class:`sandbox.kit.FaultSpec` answering Google's error body for ``fault``."""
    code, reason, message, domain = FAULTS[fault]
    body = {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message,
        }
    }
    headers = {"retry-after": "0"} if code == 429 else {}
    return FaultSpec(
        method=method,
        path=path,
        status=code,
        body=body,
        headers=headers,
        times=times,
        delay_seconds=delay_seconds,
    )


@dataclass
class GoogleFake:
    """The state of one Google fake: calendars, OAuth, and the notification deliveries."""

    store: CalendarStore
    oauth: OAuthServer
    channel_ttl: timedelta = DEFAULT_CHANNEL_TTL
    paused: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        """Forget calendars, channels, tokens and deliveries; notifications flow again."""
        self.store.reset()
        self.oauth.reset()
        self.paused = False
        with self._lock:
            self.deliveries.clear()

    # ------------------------------------------------------------------ notifications

    def changed(self, calendar_id: str) -> None:
        """Tell every live channel of the calendar (``exists``)."""
        for channel in self.store.live_channels(calendar_id):
            self._send(channel, "exists")

    def _send(self, channel: Channel, state: str) -> None:
        number = self.store.next_message_number(channel)
        with self._lock:
            delivery = Delivery(
                id=len(self.deliveries) + 1,
                channel_id=channel.id,
                calendar_id=channel.calendar_id,
                state=state,
                message_number=number,
                address=channel.address,
                sent_at=utc_now(),
            )
            self.deliveries.append(delivery)
        if self.paused:
            delivery.error = "lost (notifications paused)"
            return
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": channel.expiration.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri(self.base_url),
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        task = asyncio.get_running_loop().create_task(self._post(delivery, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, delivery: Delivery, headers: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        try:
            response = await self._client.post(delivery.address, headers=headers, content=b"")
            delivery.status_code = response.status_code
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"

    def notifications(self) -> list[Delivery]:
        """Every delivery so far, oldest first."""
        with self._lock:
            return list(self.deliveries)

    async def aclose(self) -> None:
        """Wait for deliveries in flight, then close the HTTP client."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def google_fake(app: FastAPI) -> GoogleFake:
    """The :class:`GoogleFake` of an app made by :func:`create_google_app`."""
    fake: GoogleFake = app.state.google
    return fake


def _google_error(exc: GoogleError) -> JSONResponse:
    return JSONResponse(exc.body(), exc.code)


def create_google_app(
    *,
    clients: dict[str, str] | None = None,
    access_token_seconds: int = 3599,
    channel_ttl: timedelta = DEFAULT_CHANNEL_TTL,
    clock: Clock = utc_now,
) -> FastAPI:
    """A Google Calendar v3 + OAuth token endpoint fake with its own state (module docstring).

    ``clients`` maps accepted OAuth client ids to secrets; ``access_token_seconds`` is the
    ``expires_in`` of every access token; ``channel_ttl`` caps a watch channel's life.
    """
    fake = GoogleFake(
        store=CalendarStore(clock=clock),
        oauth=OAuthServer(clients=clients, access_token_seconds=access_token_seconds, clock=clock),
        channel_ttl=channel_ttl,
    )
    app = create_sandbox_app(
        "google",
        description="Google Calendar API v3, the OAuth token endpoint and watch notifications",
        reset_hooks=[fake.reset],
    )
    app.state.google = fake

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await fake.aclose()

    app.router.lifespan_context = lifespan

    @app.exception_handler(GoogleError)
    async def google_error(_: Request, exc: GoogleError) -> Response:
        return _google_error(exc)

    @app.exception_handler(OAuthError)
    async def oauth_error(_: Request, exc: OAuthError) -> Response:
        return JSONResponse(exc.body(), exc.status)

    def base_of(request: Request) -> str:
        base = str(request.base_url).rstrip("/")
        fake.base_url = base
        return base

    def user_of(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user = fake.oauth.user_of(token) if scheme.lower() == "bearer" else None
        if user is None:
            raise auth_error()
        base_of(request)
        return user

    def calendar_of(calendar_id: str, user: str) -> str:
        return user if calendar_id == "primary" else calendar_id

    async def json_body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise bad_request("Parse Error", "parseError") from exc
        if not isinstance(body, dict):
            raise bad_request("Parse Error", "parseError")
        return body

    # ------------------------------------------------------------------ OAuth

    @app.post("/token", tags=["OAuth"])
    async def token(request: Request) -> JSONResponse:
        """The token endpoint: refresh-token and JWT-bearer grants."""
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        answer = fake.oauth.token(form, f"{base_of(request)}/token")
        return JSONResponse(answer, headers={"cache-control": "no-store"})

    @app.post("/revoke", tags=["OAuth"])
    async def revoke(request: Request, token: str | None = None) -> Response:
        """Revoke a token (query or form ``token``); unknown → 400 ``invalid_token``."""
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        given = token or form.get("token", "")
        if not fake.oauth.revoke(given):
            raise OAuthError("invalid_token", "Token expired or revoked")
        return Response(status_code=200)

    # ------------------------------------------------------------------ Calendar API v3

    @app.post(f"{API}/calendars/{{calendar_id}}/events", tags=["Calendar v3"])
    async def insert_event(request: Request, calendar_id: str) -> JSONResponse:
        """``events.insert``."""
        calendar = calendar_of(calendar_id, user_of(request))
        event = fake.store.insert(calendar, await json_body(request), user_of(request))
        fake.changed(calendar)
        return JSONResponse(event)

    @app.get(f"{API}/calendars/{{calendar_id}}/events", tags=["Calendar v3"])
    async def list_events(
        request: Request,
        calendar_id: str,
        maxResults: int | None = Query(default=None, ge=1),
        pageToken: str | None = None,
        syncToken: str | None = None,
        showDeleted: bool = False,
        timeMin: str | None = None,
        timeMax: str | None = None,
    ) -> JSONResponse:
        """``events.list``: pages, then ``nextSyncToken``; 410 for an expired sync token."""
        calendar = calendar_of(calendar_id, user_of(request))
        private = []
        for key, value in request.query_params.multi_items():
            if key == "privateExtendedProperty":
                name, sep, wanted = value.partition("=")
                if not sep:
                    raise bad_request("Invalid value for: privateExtendedProperty")
                private.append((name, wanted))
        body = fake.store.list_events(
            calendar,
            max_results=maxResults,
            page_token=pageToken,
            sync_token=syncToken,
            show_deleted=showDeleted or syncToken is not None,
            time_min=parse_time(timeMin, "timeMin") if timeMin else None,
            time_max=parse_time(timeMax, "timeMax") if timeMax else None,
            private=private,
        )
        return JSONResponse(body)

    @app.post(f"{API}/calendars/{{calendar_id}}/events/watch", tags=["Calendar v3"])
    async def watch_events(request: Request, calendar_id: str) -> JSONResponse:
        """``events.watch``: a channel; a ``sync`` message follows at once."""
        user = user_of(request)
        calendar = calendar_of(calendar_id, user)
        body = await json_body(request)
        channel_id, address = body.get("id"), body.get("address")
        if not isinstance(channel_id, str) or not channel_id or len(channel_id) > 64:
            raise bad_request("Invalid value for: id", "required")
        if body.get("type") not in ("web_hook", "webhook"):
            raise bad_request("Invalid value for: type")
        if not isinstance(address, str) or not address.startswith(("http://", "https://")):
            raise bad_request("Invalid value for: address", "push.webhookUrlNotHttps")
        expiration = body.get("expiration")
        channel = fake.store.watch(
            calendar,
            channel_id=channel_id,
            address=address,
            token=body.get("token"),
            expiration_ms=int(expiration) if expiration is not None else None,
            owner=user,
            max_ttl=fake.channel_ttl,
        )
        fake._send(channel, "sync")
        return JSONResponse(channel.view(base_of(request)))

    @app.post(f"{API}/channels/stop", tags=["Calendar v3"])
    async def stop_channel(request: Request) -> Response:
        """``channels.stop``."""
        user_of(request)
        body = await json_body(request)
        fake.store.stop(str(body.get("id", "")), str(body.get("resourceId", "")))
        return Response(status_code=204)

    @app.get(f"{API}/calendars/{{calendar_id}}/events/{{event_id}}", tags=["Calendar v3"])
    async def get_event(request: Request, calendar_id: str, event_id: str) -> JSONResponse:
        """``events.get``."""
        calendar = calendar_of(calendar_id, user_of(request))
        return JSONResponse(fake.store.get(calendar, event_id))

    async def change(
        request: Request, calendar_id: str, event_id: str, patch: bool
    ) -> JSONResponse:
        calendar = calendar_of(calendar_id, user_of(request))
        event = fake.store.update(
            calendar,
            event_id,
            await json_body(request),
            patch=patch,
            if_match=request.headers.get("if-match"),
        )
        fake.changed(calendar)
        return JSONResponse(event)

    @app.put(f"{API}/calendars/{{calendar_id}}/events/{{event_id}}", tags=["Calendar v3"])
    async def update_event(request: Request, calendar_id: str, event_id: str) -> JSONResponse:
        """``events.update`` (``status: confirmed`` restores a deleted event)."""
        return await change(request, calendar_id, event_id, patch=False)

    @app.patch(f"{API}/calendars/{{calendar_id}}/events/{{event_id}}", tags=["Calendar v3"])
    async def patch_event(request: Request, calendar_id: str, event_id: str) -> JSONResponse:
        """``events.patch``."""
        return await change(request, calendar_id, event_id, patch=True)

    @app.delete(f"{API}/calendars/{{calendar_id}}/events/{{event_id}}", tags=["Calendar v3"])
    async def delete_event(request: Request, calendar_id: str, event_id: str) -> Response:
        """``events.delete``: 204; 410 ``deleted`` the second time."""
        calendar = calendar_of(calendar_id, user_of(request))
        fake.store.delete(calendar, event_id)
        fake.changed(calendar)
        return Response(status_code=204)

    @app.post(f"{API}/freeBusy", tags=["Calendar v3"])
    async def free_busy(request: Request) -> JSONResponse:
        """``freeBusy.query``."""
        user = user_of(request)
        body = await json_body(request)
        time_min = parse_time(body.get("timeMin"), "timeMin")
        time_max = parse_time(body.get("timeMax"), "timeMax")
        if time_max <= time_min:
            raise bad_request("The specified time range is empty.", "timeRangeEmpty")
        items = body.get("items") or []
        if len(items) > 50:
            raise bad_request("Too many calendars requested", "tooManyCalendarsRequested")
        known = set(fake.store.calendars()) | {user}
        calendars: dict[str, Any] = {}
        for item in items:
            calendar_id = str(item.get("id", ""))
            resolved = calendar_of(calendar_id, user)
            if resolved not in known:
                calendars[calendar_id] = {
                    "busy": [],
                    "errors": [{"domain": "global", "reason": "notFound"}],
                }
            else:
                calendars[calendar_id] = {"busy": fake.store.busy(resolved, time_min, time_max)}
        return JSONResponse(
            {
                "kind": "calendar#freeBusy",
                "timeMin": rfc3339(time_min),
                "timeMax": rfc3339(time_max),
                "calendars": calendars,
            }
        )

    # ------------------------------------------------------------------ inspection

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        """Calendars with their events (deleted ones struck through), channels, notifications."""
        return render_page(
            request,
            "google.html",
            title="Google Calendar sandbox",
            paused=fake.paused,
            calendars=[
                {"id": calendar_id, "events": newest_first(fake.store.events(calendar_id))}
                for calendar_id in fake.store.calendars()
            ],
            channels=fake.store.channels(),
            deliveries=newest_first(fake.notifications()),
            grants=newest_first(fake.oauth.grants),
        )

    @app.get("/_sandbox/calendars", tags=["inspection"])
    async def list_calendars() -> list[str]:
        """Calendar ids seen so far."""
        return fake.store.calendars()

    @app.get("/_sandbox/calendars/{calendar_id}/events", tags=["inspection"])
    async def inspect_events(
        calendar_id: str,
        include_deleted: bool = True,
        count: int = Query(default=0, ge=0, description="With wait: how many to wait for"),
        wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS),
    ) -> list[dict[str, Any]]:
        """Every event of a calendar, in change order."""
        return await poll_until(
            lambda: fake.store.events(calendar_id, include_deleted=include_deleted),
            lambda found: len(found) >= count,
            wait,
        )

    @app.post("/_sandbox/calendars/{calendar_id}/events", tags=["inspection"])
    async def user_adds(calendar_id: str, event: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """An event the calendar's owner adds in Google (channels are told)."""
        created = fake.store.insert(calendar_id, event, calendar_id)
        fake.changed(calendar_id)
        return created

    @app.patch("/_sandbox/calendars/{calendar_id}/events/{event_id}", tags=["inspection"])
    async def user_edits(
        calendar_id: str, event_id: str, changes: dict[str, Any] = Body(...)
    ) -> dict[str, Any]:
        """The owner changes (e.g. moves) an event in Google."""
        event = fake.store.update(calendar_id, event_id, changes, patch=True)
        fake.changed(calendar_id)
        return event

    @app.delete("/_sandbox/calendars/{calendar_id}/events/{event_id}", tags=["inspection"])
    async def user_deletes(calendar_id: str, event_id: str) -> dict[str, Any]:
        """The owner deletes an event in Google."""
        event = fake.store.delete(calendar_id, event_id)
        fake.changed(calendar_id)
        return event

    @app.post(
        "/_sandbox/calendars/{calendar_id}/expire_sync_tokens", status_code=204, tags=["inspection"]
    )
    async def expire_sync_tokens(calendar_id: str) -> Response:
        """The next sync with a token issued so far answers 410 ``fullSyncRequired``."""
        fake.store.expire_sync_tokens(calendar_id)
        return Response(status_code=204)

    @app.post("/_sandbox/oauth/refresh_tokens", tags=["inspection"])
    async def issue_refresh_token(body: RefreshTokenRequest) -> dict[str, str]:
        """A refresh token for ``user``, as the consent screen gives the front end."""
        return {"refresh_token": fake.oauth.issue_refresh_token(body.user, body.scope)}

    @app.post("/_sandbox/oauth/revoke", tags=["inspection"])
    async def revoke_as_user(body: RevokeRequest) -> dict[str, bool]:
        """The user removes the app's access in their Google account."""
        return {"revoked": fake.oauth.revoke(body.token)}

    @app.post("/_sandbox/oauth/expire_access_tokens", tags=["inspection"])
    async def expire_access_tokens(user: str | None = None) -> dict[str, int]:
        """Every live access token (of ``user``) stops working before its announced expiry."""
        return {"expired": fake.oauth.expire_access_tokens(user)}

    @app.get("/_sandbox/oauth/grants", tags=["inspection"])
    async def grants() -> list[dict[str, Any]]:
        """Every token the endpoint granted, oldest first."""
        return list(fake.oauth.grants)

    @app.get("/_sandbox/service_account_key", tags=["inspection"])
    async def service_account_key(request: Request) -> dict[str, str]:
        """The test service account's key file; its ``token_uri`` is this fake."""
        return fake.oauth.service_account_key(f"{base_of(request)}/token")

    @app.get("/_sandbox/channels", tags=["inspection"])
    async def channels(request: Request) -> list[dict[str, Any]]:
        """Every watch channel, with its address and whether it was stopped."""
        base = base_of(request)
        return [
            {**c.view(base), "address": c.address, "stopped": c.stopped, "calendar": c.calendar_id}
            for c in fake.store.channels()
        ]

    @app.get("/_sandbox/notifications", tags=["inspection"])
    async def notifications(
        count: int = Query(default=1, ge=1),
        wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS),
    ) -> list[Delivery]:
        """Every notification sent (or lost while paused); ``wait`` long-polls for ``count``."""
        return await poll_until(fake.notifications, lambda found: len(found) >= count, wait)

    @app.put("/_sandbox/notifications/paused", tags=["inspection"])
    async def pause(body: Paused) -> Paused:
        """While paused, notifications are recorded but never sent (lost)."""
        fake.paused = body.paused
        return Paused(paused=fake.paused)

    @app.post("/_sandbox/google_faults", status_code=201, tags=["inspection"])
    async def add_google_fault(request: Request, body: GoogleFaultRequest) -> dict[str, Any]:
        """Queue a fault answering Google's error body (403/429 rate limits, 500, 401...)."""
        if body.fault not in FAULTS:
            raise GoogleError(400, "invalid", f"unknown fault; known: {', '.join(FAULTS)}")
        spec = google_fault(
            body.fault,
            method=body.method,
            path=body.path,
            times=body.times,
            delay_seconds=body.delay_seconds,
        )
        return sandbox_state(request.app).faults.add(spec).model_dump(mode="json")

    return app
