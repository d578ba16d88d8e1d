"""Webhook notifications: YooKassa's body, POSTed to the configured URL until it answers 200.

Each event becomes a :class:`Notification` at once (``GET /_sandbox/notifications`` shows it) and
is delivered by a task in the app's event loop: an attempt, and while the answer is not 200 (or
there is none), another after a growing delay, up to :attr:`NotificationPolicy.max_attempts`.
Requests leave from ``source_address`` (127.0.0.1 by default), so a receiver's IP allow-list can
name it. Every attempt is recorded with its status code or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from sandbox.serving import LOOPBACK
from sandbox.yookassa.store import Clock, utc_now

NotificationState = Literal["pending", "delivered", "gave_up", "no_webhook"]


class NotificationPolicy(BaseModel):
    """How hard the fake tries: attempts, delays between them, and each attempt's timeout.

    The delay after attempt ``n`` (1-based) is ``min(first_delay * backoff ** (n - 1), max_delay)``.
    YooKassa keeps trying for 24 h; the defaults stop after about 10 minutes.
    """

    max_attempts: int = Field(default=15, ge=1)
    first_delay: float = Field(default=1.0, ge=0.0)
    backoff: float = Field(default=2.0, ge=1.0)
    max_delay: float = Field(default=60.0, ge=0.0)
    timeout: float = Field(default=10.0, gt=0.0)

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number ``attempt``."""
        return min(self.first_delay * self.backoff ** (attempt - 1), self.max_delay)


class DeliveryAttempt(BaseModel):
    """One POST of a notification to the webhook URL."""

    number: int
    started_at: datetime
    url: str
    source_address: str | None
    status_code: int | None = Field(default=None, description="None: no HTTP answer")
    error: str | None = Field(default=None, description="Why there was no HTTP answer")
    duration_ms: float = 0.0


class Notification(BaseModel):
    """An event and every attempt to deliver it."""

    id: int
    event: str
    object_id: str
    created_at: datetime
    url: str | None = Field(description="The webhook URL when the event happened")
    state: NotificationState
    body: dict[str, Any] = Field(description='{"type": "notification", "event", "object"}')
    attempts: list[DeliveryAttempt] = Field(default_factory=list)


class Notifier:
    """Thread-safe notification log plus the delivery tasks of one fake."""

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        policy: NotificationPolicy | None = None,
        source_address: str | None = LOOPBACK,
        clock: Clock = utc_now,
    ) -> None:
        self._lock = threading.Lock()
        self._initial_url = webhook_url
        self._url = webhook_url
        self.policy = policy or NotificationPolicy()
        self.source_address = source_address
        self._clock = clock
        self._items: list[Notification] = []
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def webhook_url(self) -> str | None:
        """Where notifications of new events go (``None``: nowhere)."""
        with self._lock:
            return self._url

    def set_webhook_url(self, url: str | None) -> None:
        """Send later events to ``url`` (``None`` stops sending)."""
        with self._lock:
            self._url = url

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver from ``loop`` when an event comes from another thread (set at app start-up)."""
        self._loop = loop

    def notify(self, event: str, obj: dict[str, Any]) -> Notification:
        """Record ``event`` about ``obj`` and start delivering it if a webhook URL is set."""
        body = {"type": "notification", "event": event, "object": copy.deepcopy(obj)}
        with self._lock:
            notification = Notification(
                id=next(self._ids),
                event=event,
                object_id=str(obj.get("id", "")),
                created_at=self._clock(),
                url=self._url,
                state="pending" if self._url else "no_webhook",
                body=body,
            )
            self._items.append(notification)
        if notification.url is not None:
            self._start(notification.id, notification.url, body)
        return notification.model_copy(deep=True)

    def _start(self, notification_id: int, url: str, body: dict[str, Any]) -> None:
        def spawn() -> None:
            task = asyncio.get_running_loop().create_task(
                self._deliver(notification_id, url, body), name=f"yookassa-notify-{notification_id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            spawn()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(spawn)
        else:
            self._set_state(notification_id, "gave_up")

    async def _deliver(self, notification_id: int, url: str, body: dict[str, Any]) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=self.source_address)
        headers = {"User-Agent": "YooKassa sandbox notifier"}
        async with httpx.AsyncClient(transport=transport, timeout=self.policy.timeout) as client:
            for number in range(1, self.policy.max_attempts + 1):
                attempt = DeliveryAttempt(
                    number=number,
                    started_at=self._clock(),
                    url=url,
                    source_address=self.source_address,
                )
                started = time.monotonic()
                try:
                    response = await client.post(url, json=body, headers=headers)
                    attempt.status_code = response.status_code
                except httpx.HTTPError as exc:
                    attempt.error = f"{type(exc).__name__}: {exc}"
                attempt.duration_ms = round((time.monotonic() - started) * 1000, 1)
                delivered = attempt.status_code == 200
                with self._lock:
                    notification = self._find(notification_id)
                    if notification is None:  # reset while delivering
                        return
                    notification.attempts.append(attempt)
                    if delivered:
                        notification.state = "delivered"
                    elif number == self.policy.max_attempts:
                        notification.state = "gave_up"
                if delivered:
                    return
                if number < self.policy.max_attempts:
                    await asyncio.sleep(self.policy.delay_after(number))

    def _find(self, notification_id: int) -> Notification | None:
        return next((n for n in self._items if n.id == notification_id), None)

    def _set_state(self, notification_id: int, state: NotificationState) -> None:
        with self._lock:
            notification = self._find(notification_id)
            if notification is not None:
                notification.state = state

    def notifications(
        self,
        *,
        event: str | None = None,
        object_id: str | None = None,
        state: NotificationState | None = None,
    ) -> list[Notification]:
        """Recorded notifications matching every filter, oldest first (copies)."""
        with self._lock:
            return [
                n.model_copy(deep=True)
                for n in self._items
                if (event is None or n.event == event)
                and (object_id is None or n.object_id == object_id)
                and (state is None or n.state == state)
            ]

    async def wait_for(
        self,
        ready: Callable[[list[Notification]], bool],
        *,
        timeout: float = 10.0,
        **filters: Any,
    ) -> list[Notification]:
        """Poll :meth:`notifications` (with ``filters``) until ``ready`` holds; ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.notifications(**filters)
            if ready(items):
                return items
            if time.monotonic() >= deadline:
                raise TimeoutError(f"notifications {filters} never got ready: {items}")
            await asyncio.sleep(0.02)

    def reset(self) -> None:
        """Stop deliveries, forget notifications, restore the webhook URL the app started with."""
        for task in list(self._tasks):
            task.cancel()
        with self._lock:
            self._items.clear()
            self._url = self._initial_url

    async def aclose(self) -> None:
        """Cancel deliveries still running and wait for them (at app shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
