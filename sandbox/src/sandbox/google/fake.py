"""The Google fake as a registered fake (``praktika-sandbox``) and as a test helper.

The runner's fake reads ``SANDBOX_GOOGLE_CLIENT_ID`` / ``SANDBOX_GOOGLE_CLIENT_SECRET`` (default
``sandbox-client.apps.googleusercontent.com`` / ``sandbox-client-secret``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

import httpx
from fastapi import FastAPI

from sandbox.google.app import GoogleFake, create_google_app, google_fake, google_fault
from sandbox.google.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.kit import FakeBuild, sandbox_state
from sandbox.serving import LOOPBACK, serve_app


def build_google_fake(
    host: str, ports: dict[str, int], environ: Mapping[str, str] | None = None
) -> FakeBuild:
    """Factory for the registry: the Google app, configured from ``environ`` (the process's)."""
    env = os.environ if environ is None else environ
    client_id = env.get("SANDBOX_GOOGLE_CLIENT_ID") or DEFAULT_CLIENT_ID
    secret = env.get("SANDBOX_GOOGLE_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
    return FakeBuild(app=create_google_app(clients={client_id: secret}))


class RunningGoogle(NamedTuple):
    """A Google fake serving on the loopback."""

    base_url: str
    """``http://127.0.0.1:PORT``: ``/token``, ``/revoke`` and ``/_sandbox/`` live here."""
    api_url: str
    """``<base_url>/calendar/v3``: the Calendar API base a client takes."""
    app: FastAPI
    fake: GoogleFake

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.base_url}/token"

    @property
    def revoke_uri(self) -> str:
        """The OAuth revocation endpoint."""
        return f"{self.base_url}/revoke"

    def refresh_token(self, user: str) -> str:
        """A refresh token for ``user``, as the front end gets one after consent."""
        return self.fake.oauth.issue_refresh_token(user)

    def service_account_key(self) -> dict[str, str]:
        """The test service account's key file (its ``token_uri`` is this fake)."""
        return self.fake.oauth.service_account_key(self.token_uri)

    def fault(self, kind: str, **options: Any) -> None:
        """Queue a fault with Google's error body (:func:`sandbox.google.app.google_fault`)."""
        sandbox_state(self.app).faults.add(google_fault(kind, **options))

    async def inspect(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the inspection API (e.g. ``("POST", "/calendars/x/events", json=...)``)."""
        async with httpx.AsyncClient(base_url=f"{self.base_url}/_sandbox") as client:
            response = await client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json() if response.content else None


@contextlib.asynccontextmanager
async def running_google(
    host: str = LOOPBACK, port: int = 0, **options: Any
) -> AsyncIterator[RunningGoogle]:
    """Serve a fresh Google fake in this event loop (a free port by default) until exit.

    ``options`` go to :func:`~sandbox.google.app.create_google_app` (``clients``,
    ``access_token_seconds``, ``channel_ttl``, ``clock``).
    """
    app = create_google_app(**options)
    async with serve_app(app, host, port) as base_url:
        fake = google_fake(app)
        fake.base_url = base_url
        yield RunningGoogle(base_url, f"{base_url}/calendar/v3", app, fake)
