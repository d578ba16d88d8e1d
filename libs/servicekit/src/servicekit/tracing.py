"""Traces: OpenTelemetry across HTTP, the outbox, AMQP, timers and the calls out.

One trace follows a request through everything it causes: the HTTP server span (servicekit's
middleware), a ``create`` span per event the unit of work emits, whose W3C ``traceparent`` (and
``tracestate``) is stored with the outbox row (``trace_context``); the relay publishes the row
later, in a ``send`` span child of it, and puts that span's context in the AMQP headers; the
consumer runs each handler in a ``process`` span child of the message's; a timer scheduled in
that span keeps its context too (``timers.trace_context``) and fires in a child span; calls out
(httpx: YooKassa, Google Calendar, JWKS; notify's Telegram and SMTP) are client spans inside it.

Configuration is the standard environment (:func:`configure_tracing`, read once at start-up):

* ``OTEL_TRACES_EXPORTER``: ``none`` (the default: no SDK is installed, every span is the API's
  no-op), ``console``, ``otlp`` (OTLP over HTTP/protobuf), or a comma-separated list;
* ``OTEL_SERVICE_NAME`` (default: the service's name), ``OTEL_RESOURCE_ATTRIBUTES``;
* ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._HEADERS``,
  ``..._TIMEOUT`` (read by the exporter), ``OTEL_TRACES_SAMPLER`` / ``..._ARG`` (by the SDK),
  ``OTEL_BSP_*`` (by the batch processor); ``OTEL_SDK_DISABLED=true`` turns it all off.

No personal data in attributes: ids, event types, exchanges, queues, route templates and
status codes only; URLs of calls out are reduced to what :func:`safe_url` keeps.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

logger = logging.getLogger("servicekit.tracing")

#: The tracer servicekit's own spans come from. Like a module's logger: the API's proxy,
#: bound to the process's provider once one is installed (none: every span is a no-op).
tracer: Tracer = trace.get_tracer("servicekit")

#: The headers a trace context travels in (W3C Trace Context).
TRACE_HEADERS = ("traceparent", "tracestate")

EXPORTERS = ("none", "console", "otlp")


# -- carrying a context through rows and messages ---------------------------------------------


def current_trace_context() -> dict[str, str] | None:
    """The current span's ``traceparent``/``tracestate`` to store with a row, or ``None`` when
    nothing is being traced (tracing off: nothing stored, nothing to read later)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    picked = {k: v for k, v in carrier.items() if k in TRACE_HEADERS}
    return picked or None


def context_from(carrier: Mapping[str, Any] | None) -> Context | None:
    """The parent context a stored or received carrier names (``None`` when it names none)."""
    if not carrier:
        return None
    text = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in carrier.items()}
    text = {k: v for k, v in text.items() if k in TRACE_HEADERS}
    if "traceparent" not in text:
        return None
    return propagate.extract(text)


def trace_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span as hex, or ``None`` (for log lines)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def messaging_attributes(
    operation: str,
    *,
    exchange: str,
    routing_key: str | None = None,
    message_id: str | None = None,
    conversation_id: str | None = None,
    subscription: str | None = None,
) -> dict[str, str]:
    """OpenTelemetry's messaging attributes for RabbitMQ (ids and names only, never payload)."""
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": exchange,
    }
    if routing_key is not None:
        attributes["messaging.rabbitmq.destination.routing_key"] = routing_key
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    if conversation_id is not None:
        attributes["messaging.message.conversation_id"] = conversation_id
    if subscription is not None:
        attributes["messaging.destination.subscription.name"] = subscription
    return attributes


def start_span(
    name: str,
    *,
    kind: SpanKind,
    parent: Context | None = None,
    attributes: Mapping[str, str | int] | None = None,
) -> Span:
    """A span of servicekit's tracer (``parent`` given, else the current context's child)."""
    return tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


@contextmanager
def attached(context: Context | None) -> Iterator[None]:
    """Make ``context`` current for a block (nothing when it is ``None``)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


# -- URLs of calls out ------------------------------------------------------------------------

_KEPT_SEGMENT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # an id
    r"|v\d+(\.\d+)?"  # an API version
    r"|[A-Za-z_][A-Za-z_.-]{0,39}"  # a word: a resource, a method
)


def safe_url(url: str) -> str:
    """``url`` as a span may show it: scheme, host and port, the path's harmless segments (ids,
    versions, words) with anything else as ``{}`` (a bot token, a calendar id that is an email
    address), and never the query."""
    parts = urlsplit(url)
    segments = [s if not s or _KEPT_SEGMENT.fullmatch(s) else "{}" for s in parts.path.split("/")]
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{'/'.join(segments)}"


def _redact_httpx_url(span: Span, request: Any) -> None:
    """httpx instrumentation's request hook: the span's URL attribute becomes :func:`safe_url`."""
    if not span.is_recording():
        return
    url = safe_url(str(request.url if hasattr(request, "url") else request[1]))
    attributes = getattr(span, "attributes", None) or {}
    for key in ("url.full", "http.url"):
        if key in attributes:
            span.set_attribute(key, url)


async def _redact_httpx_url_async(span: Span, request: Any) -> None:
    _redact_httpx_url(span, request)


def instrument_httpx() -> None:
    """Client spans for every httpx call (opentelemetry-instrumentation-httpx), their URLs
    reduced by :func:`safe_url`. Process-wide (it wraps httpx's transports); idempotent."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(
            request_hook=_redact_httpx_url, async_request_hook=_redact_httpx_url_async
        )


# -- configuration ----------------------------------------------------------------------------


def exporters_from(environ: Mapping[str, str]) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (``[]`` for none/disabled)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [
        n.strip().lower()
        for n in environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if n.strip()
    ]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={','.join(unknown)} is not one of {', '.join(EXPORTERS)}"
        )
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if "otlp" in names and protocol.strip() not in ("", "http/protobuf"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is installed "
            "(opentelemetry-exporter-otlp-proto-http)"
        )
    return [n for n in names if n != "none"]


def build_tracer_provider(service: str, environ: Mapping[str, str] | None = None) -> Any:
    """An SDK tracer provider for ``service`` as the environment asks, or ``None`` when it asks
    for no exporter (the default). Nothing global is touched."""
    env = os.environ if environ is None else environ
    names = exporters_from(env)
    if not names:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service: str) -> bool:
    """Install the process's tracer provider from the ``OTEL_*`` environment (called at start-up
    beside :func:`servicekit.logging.configure_logging`); ``True`` when tracing is on. Off by
    default: no provider, no instrumentation, the API's no-op spans only."""
    provider = build_tracer_provider(service)
    if provider is None:
        return False
    trace.set_tracer_provider(provider)
    instrument_httpx()
    logger.info("tracing on", extra={"exporters": exporters_from(os.environ)})
    return True
