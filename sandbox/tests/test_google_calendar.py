"""Google fake: Google's own libraries drive it and must accept every answer.

google-auth is the oracle for the token endpoint (the refresh-token grant of
``google.oauth2.credentials`` and the RS256 JWT-bearer grant of ``google.oauth2.service_account``);
google-api-python-client, built from the ``calendar.v3`` discovery document it ships, makes the
Calendar calls (its URLs, parameters and bodies are the real client's), and every answer is checked
against the document's schemas (no field the real API does not define). The library's own retry of
429 / 403 ``rateLimitExceeded`` / 500 recovers from the fake's injected faults.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import googleapiclient
import httplib2
import pytest
from fastapi import FastAPI, Request, Response
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from sandbox.google import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, RunningGoogle, running_google
from sandbox.testing import serve_app

T = TypeVar("T")

SCOPES = ["https://www.googleapis.com/auth/calendar"]
USER = "anna@practice.example"

DISCOVERY: dict[str, Any] = json.load(
    open(  # noqa: SIM115 - read once at import
        os.path.join(
            os.path.dirname(googleapiclient.__file__),
            "discovery_cache",
            "documents",
            "calendar.v3.json",
        )
    )
)


def conforms(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Every key of ``value`` is one the discovery document defines, recursively."""
    if "$ref" in schema:
        schema = DISCOVERY["schemas"][schema["$ref"]]
    if schema.get("type") == "object" and isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                conforms(item, properties[key], f"{where}.{key}")
            elif extra is not None:
                conforms(item, extra, f"{where}.{key}")
            else:
                raise AssertionError(f"{where}.{key} is not in the discovery document")
    elif schema.get("type") == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            conforms(item, schema["items"], f"{where}[{i}]")


def schema(name: str) -> dict[str, Any]:
    return {"$ref": name}


async def blocking(call: Callable[[], T]) -> T:
    """Run a synchronous library call off the loop that serves the fake."""
    return await asyncio.to_thread(call)


@dataclass
class Receiver:
    """A notification endpoint keeping the headers of what it gets."""

    url: str = ""
    received: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def google() -> AsyncIterator[RunningGoogle]:
    async with running_google() as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = FastAPI()

    @app.post("/gcal")
    async def hook(request: Request) -> Response:
        assert await request.body() == b""
        got.received.append({k.lower(): v for k, v in request.headers.items()})
        return Response(status_code=200)

    async with serve_app(app) as url:
        got.url = f"{url}/gcal"
        yield got


def user_creds(google: RunningGoogle, refresh_token: str) -> user_credentials.Credentials:
    return user_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=google.token_uri,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        scopes=SCOPES,
    )


def calendar_api(google: RunningGoogle, creds: Any) -> Any:
    http = AuthorizedHttp(creds, http=httplib2.Http(timeout=10))
    return build_from_document(
        DISCOVERY,
        http=http,
        client_options={"api_endpoint": google.api_url + "/"},
    )


async def test_refresh_token_grant_as_google_auth_uses_it(google: RunningGoogle) -> None:
    creds = user_creds(google, google.refresh_token(USER))
    await blocking(lambda: creds.refresh(AuthRequest()))
    assert creds.token and creds.token.startswith("ya29.")
    assert creds.expiry is not None and creds.valid

    wrong = user_credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="1//unknown",
        token_uri=google.token_uri,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    with pytest.raises(RefreshError, match="invalid_grant"):
        await blocking(lambda: wrong.refresh(AuthRequest()))

    # The user removes the app's access: the refresh token stops working.
    token = creds.refresh_token
    assert token is not None
    await google.inspect("POST", "/oauth/revoke", json={"token": token})
    with pytest.raises(RefreshError, match="invalid_grant"):
        await blocking(lambda: creds.refresh(AuthRequest()))


async def test_jwt_bearer_grant_verifies_the_rs256_assertion(google: RunningGoogle) -> None:
    key = google.service_account_key()
    creds = service_account.Credentials.from_service_account_info(key, scopes=SCOPES, subject=USER)
    await blocking(lambda: creds.refresh(AuthRequest()))
    api = calendar_api(google, creds)
    event = await blocking(
        lambda: (
            api.events()
            .insert(
                calendarId="primary",
                body={
                    "summary": "x",
                    "start": {"dateTime": "2026-03-16T10:00:00+03:00"},
                    "end": {"dateTime": "2026-03-16T11:00:00+03:00"},
                },
            )
            .execute()
        )
    )
    assert event["organizer"]["email"] == USER  # ``sub``: the delegated user's calendar

    # A key the fake does not know signs the assertion: refused.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        **key,
        "private_key": other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }
    bad = service_account.Credentials.from_service_account_info(forged, scopes=SCOPES)
    with pytest.raises(RefreshError, match="invalid_grant"):
        await blocking(lambda: bad.refresh(AuthRequest()))


async def test_events_crud_with_etags_duplicates_and_deletion(google: RunningGoogle) -> None:
    api = calendar_api(google, user_creds(google, google.refresh_token(USER)))
    body = {
        "id": "0123456789abcdefghijklmnopqrstuv",
        "summary": "Консультация",
        "start": {"dateTime": "2026-03-16T10:00:00+03:00", "timeZone": "Europe/Moscow"},
        "end": {"dateTime": "2026-03-16T10:50:00+03:00", "timeZone": "Europe/Moscow"},
        "extendedProperties": {"private": {"appointment_id": "a1"}},
    }
    created = await blocking(lambda: api.events().insert(calendarId="primary", body=body).execute())
    conforms(created, schema("Event"))
    assert created["id"] == body["id"] and created["status"] == "confirmed" and created["etag"]

    with pytest.raises(HttpError) as duplicate:
        await blocking(lambda: api.events().insert(calendarId="primary", body=body).execute())
    assert duplicate.value.status_code == 409
    assert duplicate.value.error_details[0]["reason"] == "duplicate"

    with pytest.raises(HttpError) as bad_id:
        await blocking(
            lambda: (
                api.events().insert(calendarId="primary", body={**body, "id": "UPPER"}).execute()
            )
        )
    assert bad_id.value.status_code == 400

    found = await blocking(
        lambda: (
            api.events()
            .list(calendarId="primary", privateExtendedProperty="appointment_id=a1")
            .execute()
        )
    )
    conforms(found, schema("Events"))
    assert [e["id"] for e in found["items"]] == [body["id"]]

    moved = {"start": {"dateTime": "2026-03-16T12:00:00+03:00"}}
    moved["end"] = {"dateTime": "2026-03-16T12:50:00+03:00"}
    stale = api.events().patch(calendarId="primary", eventId=body["id"], body=moved)
    stale.headers["If-Match"] = '"1"'
    with pytest.raises(HttpError) as precondition:
        await blocking(stale.execute)
    assert precondition.value.status_code == 412
    fresh = api.events().patch(calendarId="primary", eventId=body["id"], body=moved)
    fresh.headers["If-Match"] = created["etag"]
    patched = await blocking(fresh.execute)
    assert patched["start"]["dateTime"] == "2026-03-16T12:00:00+03:00"
    assert patched["etag"] != created["etag"] and patched["sequence"] == 1

    await blocking(lambda: api.events().delete(calendarId="primary", eventId=body["id"]).execute())
    with pytest.raises(HttpError) as twice:
        await blocking(
            lambda: api.events().delete(calendarId="primary", eventId=body["id"]).execute()
        )
    assert twice.value.status_code == 410
    assert twice.value.error_details[0]["reason"] == "deleted"
    gone = await blocking(
        lambda: api.events().get(calendarId="primary", eventId=body["id"]).execute()
    )
    assert gone["status"] == "cancelled"
    restored = await blocking(
        lambda: (
            api.events()
            .update(calendarId="primary", eventId=body["id"], body={**body, "status": "confirmed"})
            .execute()
        )
    )
    assert restored["status"] == "confirmed"


async def test_pages_sync_tokens_and_410(google: RunningGoogle) -> None:
    api = calendar_api(google, user_creds(google, google.refresh_token(USER)))
    for hour in range(10, 15):
        await google.inspect(
            "POST",
            f"/calendars/{USER}/events",
            json={
                "summary": f"busy {hour}",
                "start": {"dateTime": f"2026-03-17T{hour}:00:00Z"},
                "end": {"dateTime": f"2026-03-17T{hour}:30:00Z"},
            },
        )
    pages, request = [], api.events().list(calendarId="primary", maxResults=2)
    while request is not None:
        page = await blocking(request.execute)
        conforms(page, schema("Events"))
        pages.append(page)
        request = api.events().list_next(request, page)
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert "nextSyncToken" in pages[-1] and all("nextSyncToken" not in p for p in pages[:-1])
    token = pages[-1]["nextSyncToken"]

    first = pages[0]["items"][0]["id"]
    await google.inspect("DELETE", f"/calendars/{USER}/events/{first}")
    changes = await blocking(
        lambda: api.events().list(calendarId="primary", syncToken=token).execute()
    )
    assert [(e["id"], e["status"]) for e in changes["items"]] == [(first, "cancelled")]
    assert changes["nextSyncToken"] != token

    await google.inspect("POST", f"/calendars/{USER}/expire_sync_tokens")
    with pytest.raises(HttpError) as expired:
        await blocking(
            lambda: (
                api.events()
                .list(calendarId="primary", syncToken=changes["nextSyncToken"])
                .execute()
            )
        )
    assert expired.value.status_code == 410
    assert expired.value.error_details[0]["reason"] == "fullSyncRequired"

    busy = await blocking(
        lambda: (
            api.freebusy()
            .query(
                body={
                    "timeMin": "2026-03-17T00:00:00Z",
                    "timeMax": "2026-03-18T00:00:00Z",
                    "items": [{"id": "primary"}, {"id": "nobody@example.org"}],
                }
            )
            .execute()
        )
    )
    conforms(busy, schema("FreeBusyResponse"))
    assert len(busy["calendars"]["primary"]["busy"]) == 4
    assert busy["calendars"]["nobody@example.org"]["errors"][0]["reason"] == "notFound"


async def test_watch_notifies_and_stop_ends_it(google: RunningGoogle, receiver: Receiver) -> None:
    api = calendar_api(google, user_creds(google, google.refresh_token(USER)))
    channel = await blocking(
        lambda: (
            api.events()
            .watch(
                calendarId="primary",
                body={
                    "id": "chan-1",
                    "type": "web_hook",
                    "address": receiver.url,
                    "token": "s3cret",
                },
            )
            .execute()
        )
    )
    conforms(channel, schema("Channel"))
    assert channel["id"] == "chan-1" and channel["resourceId"] and int(channel["expiration"]) > 0
    await google.inspect(
        "POST",
        f"/calendars/{USER}/events",
        json={"start": {"date": "2026-03-18"}, "end": {"date": "2026-03-19"}},
    )
    await google.inspect("GET", "/notifications", params={"count": 2, "wait": 5})
    for _ in range(100):
        if len(receiver.received) >= 2:
            break
        await asyncio.sleep(0.02)
    sync, exists = receiver.received
    assert sync["x-goog-resource-state"] == "sync" and sync["x-goog-message-number"] == "1"
    assert exists["x-goog-resource-state"] == "exists" and exists["x-goog-message-number"] == "2"
    assert exists["x-goog-channel-id"] == "chan-1" and exists["x-goog-channel-token"] == "s3cret"
    assert exists["x-goog-resource-id"] == channel["resourceId"]

    await blocking(
        lambda: (
            api.channels()
            .stop(body={"id": "chan-1", "resourceId": channel["resourceId"]})
            .execute()
        )
    )
    await google.inspect(
        "POST",
        f"/calendars/{USER}/events",
        json={"start": {"date": "2026-03-19"}, "end": {"date": "2026-03-20"}},
    )
    await asyncio.sleep(0.1)
    assert len(receiver.received) == 2


@pytest.mark.parametrize("fault", ["rate_limit_403", "rate_limit_429", "backend_500"])
async def test_faults_are_googles_errors_and_the_client_retries_them(
    google: RunningGoogle, fault: str
) -> None:
    api = calendar_api(google, user_creds(google, google.refresh_token(USER)))
    google.fault(fault, method="GET", path="/events$")
    with pytest.raises(HttpError) as failed:
        await blocking(lambda: api.events().list(calendarId="primary").execute())
    error = json.loads(failed.value.content)["error"]
    assert error["code"] == failed.value.status_code and error["message"]
    assert failed.value.error_details[0]["reason"] in (
        "rateLimitExceeded",
        "backendError",
    )
    google.fault(fault, method="GET", path="/events$")
    page = await blocking(lambda: api.events().list(calendarId="primary").execute(num_retries=1))
    assert page["kind"] == "calendar#events"


async def test_expired_access_token_is_401_auth_error(google: RunningGoogle) -> None:
    creds = user_creds(google, google.refresh_token(USER))
    await blocking(lambda: creds.refresh(AuthRequest()))
    await google.inspect("POST", "/oauth/expire_access_tokens")
    plain = build_from_document(
        DISCOVERY,
        http=AuthorizedHttp(creds, http=httplib2.Http(timeout=10)),
        client_options={"api_endpoint": google.api_url + "/"},
    )
    # google-auth's AuthorizedHttp refreshes once on 401 and repeats the call.
    page = await blocking(lambda: plain.events().list(calendarId="primary").execute())
    assert page["kind"] == "calendar#events"
    grants = await google.inspect("GET", "/oauth/grants")
    assert [g["grant_type"] for g in grants] == ["refresh_token", "refresh_token"]


async def test_google_faults_over_http_and_unauthenticated_calls(google: RunningGoogle) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=google.base_url) as http:
        queued = await http.post(
            "/_sandbox/google_faults",
            json={"fault": "rate_limit_429", "method": "GET", "path": "/events$"},
        )
        assert queued.status_code == 201 and queued.json()["status"] == 429
        unknown = await http.post("/_sandbox/google_faults", json={"fault": "nope"})
        assert unknown.status_code == 400
        token = await http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": google.refresh_token(USER),
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        limited = await http.get("/calendar/v3/calendars/primary/events", headers=auth)
        assert limited.status_code == 429
        assert limited.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
        assert (await http.get("/calendar/v3/calendars/primary/events", headers=auth)).is_success
        anonymous = await http.get("/calendar/v3/calendars/primary/events")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["errors"][0]["reason"] == "authError"
        wrong_client = await http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": google.refresh_token(USER),
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": "wrong",
            },
        )
        assert wrong_client.status_code == 401 and wrong_client.json()["error"] == "invalid_client"
