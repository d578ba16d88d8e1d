"""What every fake shares: request recording, fault injection and the `/_sandbox/` inspection API.

A fake is a FastAPI app made by :func:`create_sandbox_app` plus its own routes. Every request to a
route outside ``/_sandbox/`` is recorded (method, path, query, headers, body, response status) and
checked against the fault queue before the fake's own handler sees it, so a test can make the fake
answer 500, 429 or 403, or answer late, without the fake knowing. All state lives in one
:class:`SandboxState` per app instance: two fakes in one process never share anything.

Inspection API (never recorded, never faulted):

- ``GET  /_sandbox/health``
- ``GET  /_sandbox/requests?path_prefix=&method=&since_id=&limit=&wait=`` (newest last)
- ``POST /_sandbox/reset`` (requests, faults and the fake's own state)
- ``GET|POST|DELETE /_sandbox/faults``
- ``GET  /_sandbox/docs`` (OpenAPI page, for a person trying the local run)

Each fake adds its HTML page at ``GET /_sandbox/`` (:mod:`sandbox.pages`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Body, FastAPI, Query, Response, status
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.pages import page_environment

INSPECTION_PREFIX = "/_sandbox"
"""Path prefix of the inspection API; requests under it are neither recorded nor faulted."""

MAX_WAIT_SECONDS = 30.0
"""Upper bound of the ``wait`` long-poll parameter of the inspection API."""

_POLL_INTERVAL = 0.02

T = TypeVar("T")


# --------------------------------------------------------------------------- recorded requests


class RecordedRequest(BaseModel):
    """One request a fake received, as it arrived on the wire."""

    id: int
    received_at: datetime
    method: str
    path: str
    query_string: str
    query: dict[str, str] = Field(description="Query parameters; the last value of a repeated key")
    headers: dict[str, str] = Field(
        description="Lower-cased names; repeated headers joined by ', '"
    )
    body: str = Field(description="The body as UTF-8 text, or base64 when it is not valid UTF-8")
    body_encoding: str = Field(description="'utf-8' or 'base64'")
    response_status: int | None = None
    fault_id: int | None = Field(default=None, description="The injected fault that answered it")

    def body_bytes(self) -> bytes:
        """The body exactly as received."""
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return self.body.encode()

    def body_json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body_bytes())

    def body_form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value wins)."""
        return dict(parse_qsl(self.body_bytes().decode(), keep_blank_values=True))


class RequestLog:
    """Thread-safe, in-memory log of recorded requests, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._ids = itertools.count(1)

    def record(
        self,
        *,
        method: str,
        path: str,
        query_string: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> RecordedRequest:
        """Append a request and return its record."""
        merged: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        try:
            text, encoding = body.decode(), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode(), "base64"
        with self._lock:
            item = RecordedRequest(
                id=next(self._ids),
                received_at=datetime.now(UTC),
                method=method.upper(),
                path=path,
                query_string=query_string,
                query=dict(parse_qsl(query_string, keep_blank_values=True)),
                headers=merged,
                body=text,
                body_encoding=encoding,
            )
            self._items.append(item)
        return item

    def select(
        self,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        since_id: int | None = None,
        limit: int | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests matching every filter, newest last; ``limit`` keeps the newest."""
        with self._lock:
            items = [
                r
                for r in self._items
                if (path_prefix is None or r.path.startswith(path_prefix))
                and (method is None or r.method == method.upper())
                and (since_id is None or r.id > since_id)
            ]
        return items[-limit:] if limit else items

    def clear(self) -> None:
        """Forget every recorded request (ids keep increasing)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# --------------------------------------------------------------------------- HTTP faults


class FaultSpec(BaseModel):
    """What a test asks for: the next matching requests get this answer, or arrive late.

    ``status`` set: the fake's handler is skipped and this status, headers and body are returned.
    ``status`` unset: the request waits ``delay_seconds`` and then reaches the fake as usual.
    """

    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(default=None, description="HTTP method; None or '*' matches any")
    path: str = Field(default=".*", description="Regular expression searched in the request path")
    status: int | None = Field(default=None, ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, description="A string is sent as is, anything else as JSON")
    times: int | None = Field(default=1, ge=1, description="How many requests; None: until cleared")
    delay_seconds: float = Field(default=0.0, ge=0.0, le=60.0)

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        if self.status is None and self.delay_seconds == 0:
            raise ValueError("a fault needs a status, a delay_seconds, or both")
        return self

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is one this fault is for."""
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


class Fault(FaultSpec):
    """A queued fault with its id and how many more requests it will take."""

    kind: str = "http"
    id: int
    remaining: int | None
    hits: int = 0


class FaultQueue:
    """Thread-safe FIFO of HTTP faults; the first matching fault answers a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> Fault:
        """Queue a fault behind the ones already waiting."""
        with self._lock:
            fault = Fault(**spec.model_dump(), id=next(self._ids), remaining=spec.times)
            self._items.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self._lock:
            for fault in self._items:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._items.remove(fault)
                    return fault.model_copy()
        return None

    def pending(self) -> list[Fault]:
        """Faults still waiting, in the order they will be tried."""
        with self._lock:
            return [f.model_copy() for f in self._items]

    def clear(self) -> None:
        """Drop every waiting fault."""
        with self._lock:
            self._items.clear()


@dataclass(frozen=True)
class FaultExtension:
    """Another kind of fault that ``POST /_sandbox/faults`` accepts, e.g. SMTP replies.

    A request body carrying ``key`` goes to ``add`` (which validates it, raising pydantic's
    ``ValidationError`` on bad input, and queues it); everything else is an HTTP :class:`FaultSpec`.
    """

    kind: str
    key: str
    add: Callable[[dict[str, Any]], BaseModel]
    pending: Callable[[], Sequence[BaseModel]]
    clear: Callable[[], None]


# --------------------------------------------------------------------------- per-app state


@dataclass
class SandboxState:
    """Everything one fake instance keeps; a handler reaches it as ``request.app.state.sandbox``."""

    name: str
    requests: RequestLog = field(default_factory=RequestLog)
    faults: FaultQueue = field(default_factory=FaultQueue)
    fault_extensions: list[FaultExtension] = field(default_factory=list)
    reset_hooks: list[Callable[[], None]] = field(default_factory=list)
    pages: Environment = field(default_factory=page_environment)
    """The Jinja2 templates of the fake's HTML page (:mod:`sandbox.pages`)."""

    def reset(self) -> None:
        """Forget recorded requests and faults, then reset the fake's own state."""
        self.requests.clear()
        self.faults.clear()
        for extension in self.fault_extensions:
            extension.clear()
        for hook in self.reset_hooks:
            hook()


def sandbox_state(app: FastAPI) -> SandboxState:
    """The :class:`SandboxState` of an app made by :func:`create_sandbox_app`."""
    state: SandboxState = app.state.sandbox
    return state


async def poll_until(fetch: Callable[[], T], ready: Callable[[T], bool], wait: float) -> T:
    """Call ``fetch`` until ``ready`` holds for its result or ``wait`` seconds pass; return it.

    Used by long-poll inspection endpoints so tests need no sleep loops of their own.
    """
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
    result = fetch()
    while not ready(result) and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_INTERVAL)
        result = fetch()
    return result


# --------------------------------------------------------------------------- middleware


def _fault_response(fault: Fault) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = {k.lower(): v for k, v in fault.headers.items()}
    if fault.body is None:
        body = b""
    elif isinstance(fault.body, str):
        body = fault.body.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    else:
        body = json.dumps(fault.body, ensure_ascii=False).encode()
        headers.setdefault("content-type", "application/json")
    headers["content-length"] = str(len(body))
    assert fault.status is not None
    return fault.status, [(k.encode(), v.encode()) for k, v in headers.items()], body


class RecordingMiddleware:
    """Pure ASGI middleware: records each request outside ``/_sandbox/`` and applies faults."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record, fault or pass the request through to the fake."""
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path == INSPECTION_PREFIX
            or path.startswith(INSPECTION_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        record = self.state.requests.record(
            method=scope["method"],
            path=path,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
        )

        fault = self.state.faults.take(scope["method"], path)
        if fault is not None and fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault is not None and fault.status is not None:
            record.fault_id = fault.id
            record.response_status, headers, payload = _fault_response(fault)
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.response_status = message["status"]
            await send(message)

        await self.app(scope, replay, capture)


# --------------------------------------------------------------------------- the app factory


def create_sandbox_app(
    name: str,
    *,
    description: str = "",
    reset_hooks: Sequence[Callable[[], None]] = (),
    fault_extensions: Sequence[FaultExtension] = (),
) -> FastAPI:
    """A FastAPI app with recording, fault injection and the ``/_sandbox/`` inspection API.

    The caller adds the fake's own routes to the returned app. ``reset_hooks`` run on
    ``POST /_sandbox/reset`` after requests and faults are cleared.
    """
    state = SandboxState(
        name=name, reset_hooks=list(reset_hooks), fault_extensions=list(fault_extensions)
    )
    app = FastAPI(
        title=f"sandbox: {name}",
        description=description,
        docs_url=f"{INSPECTION_PREFIX}/docs",
        openapi_url=f"{INSPECTION_PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = state
    app.add_middleware(RecordingMiddleware, state=state)

    @app.get(f"{INSPECTION_PREFIX}/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "fake": name, "requests": len(state.requests)}

    @app.get(f"{INSPECTION_PREFIX}/requests")
    async def list_requests(
        path_prefix: str | None = None,
        method: str | None = None,
        since_id: int | None = None,
        limit: int | None = Query(default=None, ge=1),
        wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS),
    ) -> list[RecordedRequest]:
        """Recorded requests, newest last; ``wait`` long-polls until at least one matches."""
        return await poll_until(
            lambda: state.requests.select(
                path_prefix=path_prefix, method=method, since_id=since_id, limit=limit
            ),
            bool,
            wait,
        )

    @app.post(f"{INSPECTION_PREFIX}/reset", status_code=status.HTTP_204_NO_CONTENT)
    async def reset() -> Response:
        state.reset()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.get(f"{INSPECTION_PREFIX}/faults")
    async def list_faults() -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = [f.model_dump(mode="json") for f in state.faults.pending()]
        for extension in state.fault_extensions:
            pending += [
                {"kind": extension.kind, **f.model_dump(mode="json")} for f in extension.pending()
            ]
        return pending

    @app.post(f"{INSPECTION_PREFIX}/faults", status_code=status.HTTP_201_CREATED)
    async def add_fault(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Queue a fault: an HTTP :class:`FaultSpec`, or a registered extension's kind."""
        try:
            for extension in state.fault_extensions:
                if extension.key in payload:
                    return {
                        "kind": extension.kind,
                        **extension.add(payload).model_dump(mode="json"),
                    }
            return state.faults.add(FaultSpec.model_validate(payload)).model_dump(mode="json")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc

    @app.delete(f"{INSPECTION_PREFIX}/faults", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_faults() -> Response:
        state.faults.clear()
        for extension in state.fault_extensions:
            extension.clear()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return app


# --------------------------------------------------------------------------- what a factory builds


@dataclass
class FakeBuild:
    """What a fake's factory returns: its HTTP app and any other listeners it needs.

    ``companions`` are async context managers (e.g. the SMTP server) entered before the HTTP app
    starts and left after it stops; each yields the URL it listens on, for the runner's log.
    """

    app: FastAPI
    companions: list[AbstractAsyncContextManager[str]] = field(default_factory=list)


FakeFactory = Callable[[str, dict[str, int]], FakeBuild]
"""``factory(host, ports) -> FakeBuild``; ``ports`` maps the fake's port names to bound ports."""
