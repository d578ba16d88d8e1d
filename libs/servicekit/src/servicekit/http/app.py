"""The FastAPI app every service serves: correlation ids, traces, problem+json, health, metrics.

``create_app(runtime)`` gives an app whose lifespan starts and stops the runtime, with
``/healthz`` (alive), ``/readyz`` (database and broker), ``/metrics`` (Prometheus, this service's
registry), ``/openapi.json`` (every operation's error answers documented as problem+json,
see :mod:`servicekit.http.responses`) and ``/docs`` at the root and the service's routers under
``/api/<service>/``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.correlation import correlation_scope, current_correlation_id, sanitize
from servicekit.http.edge import (
    BodyTooLarge,
    declared_too_large,
    limited,
    log_access,
    route_template,
    secure_headers,
    too_large,
)
from servicekit.http.i18n import answering, request_language
from servicekit.http.problems import (
    install_problem_handlers,
    internal_error,
    is_unavailable,
    service_unavailable,
)
from servicekit.http.responses import install_problem_openapi
from servicekit.metrics import ServiceMetrics
from servicekit.runtime import ServiceRuntime
from servicekit.tracing import TRACE_HEADERS, context_from, start_span

CORRELATION_HEADER = "x-correlation-id"
logger = logging.getLogger("servicekit.http")


class CorrelationAndMetricsMiddleware:
    """Accepts (or makes) ``X-Correlation-ID``, echoes it, and counts/times every request, in a
    server span that continues the caller's W3C ``traceparent`` (:mod:`servicekit.tracing`).

    It is also the services' own edge (:mod:`servicekit.http.edge`): a body larger than
    ``max_body_bytes`` is answered 413 problem+json, every answer gets the security headers,
    and with ``access_log`` one line per request records the route without its query string
    and with its capability segments redacted.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        *,
        max_body_bytes: int | None = None,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        carrier: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            if name == CORRELATION_HEADER.encode():
                incoming = sanitize(value.decode("latin-1"))
            elif name in _TRACE_HEADERS:
                carrier[name.decode()] = value.decode("latin-1")
        status = 500
        started = time.perf_counter()
        method = scope.get("method", "?")
        span = (
            INVALID_SPAN
            if scope["path"] in _UNTRACED
            else start_span(
                method,  # named after its route once routed ("POST /api/booking/appointments")
                kind=SpanKind.SERVER,
                parent=context_from(carrier),
                attributes={
                    "http.request.method": method,
                    "url.scheme": scope.get("scheme", "http"),
                },
            )
        )
        with (
            trace.use_span(span, end_on_exit=True),
            correlation_scope(incoming) as cid,
            answering(scope),
        ):
            started_response = False

            async def send_with_id(message: Message) -> None:
                nonlocal status, started_response
                if message["type"] == "http.response.start":
                    started_response = True
                    status = message["status"]
                    headers = list(message.get("headers", []))
                    headers.append((CORRELATION_HEADER.encode(), cid.encode()))
                    secure_headers(scope, headers)
                    message = {**message, "headers": headers}
                await send(message)

            try:
                if self.max_body_bytes is not None:
                    if declared_too_large(scope, self.max_body_bytes):
                        raise BodyTooLarge(self.max_body_bytes)
                    receive = limited(receive, self.max_body_bytes)
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # Answered here, inside the correlation scope, so the 500 carries the id.
                if status != 500 or started_response:
                    raise
                language = request_language(HTTPConnection(scope))
                if isinstance(exc, BodyTooLarge):
                    answer = too_large(self.max_body_bytes or 0).response(language)
                elif is_unavailable(exc):
                    logger.warning("dependency unavailable: %r", exc)
                    answer = service_unavailable().response(language)
                else:
                    logger.exception("unhandled error", exc_info=exc)
                    answer = internal_error().response(language)
                await answer(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                elapsed = time.perf_counter() - started
                if span.is_recording():
                    _finish_span(span, scope, method, status)
                self.metrics.http_requests.labels(method, path, str(status)).inc()
                self.metrics.http_latency.labels(method, path).observe(elapsed)
                if self.access_log:
                    log_access(scope, status, elapsed)


_TRACE_HEADERS = frozenset(h.encode() for h in TRACE_HEADERS)
_UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: no spans


def _finish_span(span: Span, scope: Scope, method: str, status: int) -> None:
    """Name the server span after its route and record how it ended: the route's template
    (``http.route``), never the path itself (it may hold a capability token) nor the query."""
    route = route_template(scope)
    if route is not None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("praktika.correlation_id", current_correlation_id() or "")
    if status >= 500:
        span.set_status(StatusCode.ERROR)


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The HTTP app of a service."""
    definition = runtime.definition

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Everything alive now (modules, models, compiled SQL, the pools) lives as long as the
        # process: moved out of the collector's sight, a full collection no longer walks it
        # (those pauses were the tail of the latency under load).
        gc.freeze()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        # FastAPI's own OpenTelemetry hooks stay off: metrics and logs are this module's (and a
        # validation failure's log record would carry the request's values, health data among
        # them). Unconfigured, they still looked up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title=definition.title,
        description=definition.description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.token_verifier = runtime.verifier
    app.add_middleware(
        CorrelationAndMetricsMiddleware,
        metrics=runtime.metrics,
        max_body_bytes=runtime.settings.max_request_bytes,
        access_log=runtime.settings.access_log,
    )
    app.state.problems = definition.problems  # read by the OpenAPI audit too
    install_problem_handlers(app, definition.problems)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": definition.name}

    @app.get("/readyz", tags=["health"], summary="Database and broker are reachable")
    async def readyz() -> Response:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        try:  # the relay's connection may be busy publishing a batch: wait a little, no more
            async with asyncio.timeout(2):
                await runtime.relay.lag()
        except Exception as exc:  # the scrape still answers; the gauges keep their last value
            logger.warning("could not read the outbox lag: %r", exc)
        if runtime.consumers.started:
            try:
                async with asyncio.timeout(2):
                    await runtime.consumers.dlq_depths()
            except Exception as exc:  # the scrape still answers; the gauges keep their last value
                logger.warning("could not read DLQ depths: %r", exc)
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router, prefix=f"/api/{definition.name}")
    for router in definition.root_routers:
        app.include_router(router)
    # Every operation documents its error answers as problem+json (servicekit.http.responses).
    install_problem_openapi(app)
    return app
