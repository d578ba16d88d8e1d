"""Tracing's configuration, what a call out's span shows, and trace ids in log lines
(servicekit.tracing)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from servicekit.logging import JsonFormatter
from servicekit.testing import recording_spans
from servicekit.tracing import build_tracer_provider, exporters_from, safe_url, tracer


def test_off_by_default_and_off_when_the_sdk_is_disabled() -> None:
    assert exporters_from({}) == []
    assert exporters_from({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporters_from({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) == []
    assert build_tracer_provider("booking", {}) is None


def test_console_and_otlp_exporters_and_the_service_name() -> None:
    assert exporters_from({"OTEL_TRACES_EXPORTER": "console,otlp"}) == ["console", "otlp"]
    provider = build_tracer_provider("booking", {"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "booking"
    provider.shutdown()


def test_an_unknown_exporter_or_grpc_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="jaeger"):
        exporters_from({"OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(ValueError, match="http/protobuf"):
        exporters_from({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://api.telegram.org/bot123456:AAE-secret_token/sendMessage",
            "https://api.telegram.org/{}/sendMessage",
        ),
        (
            "https://www.googleapis.com/calendar/v3/calendars/anna%40example.com/events?q=x",
            "https://www.googleapis.com/calendar/v3/calendars/{}/events",
        ),
        (
            "https://api.yookassa.ru/v3/payments/2f0c4e8a-000f-5000-9000-1b2b3c4d5e6f",
            "https://api.yookassa.ru/v3/payments/2f0c4e8a-000f-5000-9000-1b2b3c4d5e6f",
        ),
        (
            "http://user:pw@127.0.0.1:8003/.well-known/jwks.json",
            "http://127.0.0.1:8003/{}/jwks.json",
        ),
    ],
)
def test_a_call_outs_url_keeps_no_secret_and_no_address(url: str, shown: str) -> None:
    assert safe_url(url) == shown


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


async def test_an_httpx_call_is_a_client_span_with_the_url_reduced() -> None:
    server = await asyncio.start_server(_answer_ok, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with recording_spans() as exporter:
            with tracer.start_as_current_span("work") as work:
                async with httpx.AsyncClient() as client:
                    r = await client.get(f"http://127.0.0.1:{port}/bot42:SECRET/getMe?x=1")
            assert r.status_code == 200
            spans = exporter.get_finished_spans()
    finally:
        server.close()
        await server.wait_closed()
    call = next(s for s in spans if s.kind == SpanKind.CLIENT)
    assert call.parent is not None and call.parent.span_id == work.get_span_context().span_id
    shown = json.dumps(dict(call.attributes or {}))
    assert "SECRET" not in shown and "x=1" not in shown
    assert f"http://127.0.0.1:{port}/{{}}/getMe" in shown


def test_a_log_line_in_a_span_names_its_trace_and_span() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("kittest"))
    log = logging.getLogger("kittest.tracing")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("outside")
        with recording_spans(), tracer.start_as_current_span("work") as span:
            log.info("inside")
    finally:
        log.removeHandler(handler)
    outside, inside = (json.loads(line) for line in out.getvalue().splitlines())
    assert "trace_id" not in outside
    ctx = span.get_span_context()
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
