"""One trace from a request through the outbox, the relay, RabbitMQ, the consumer and a timer
(servicekit.tracing): the W3C context is stored with the outbox row and the timer, travels in
the AMQP headers, and every span is a child of the one before, with messaging attributes and no
personal data. Untraced work stores nothing."""

from __future__ import annotations

import io
import itertools
import json
import logging
import uuid
from typing import Any

from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from servicekit.clock import utcnow
from servicekit.db.tables import outbox, timers
from servicekit.logging import JsonFormatter
from servicekit.messaging.outbox import UnitOfWork
from servicekit.testing import recording_spans, tapping, wait_until
from servicekit.timers import Timer, TimerWorker, schedule
from servicekit.tracing import tracer
from sqlalchemy import select

from .conftest import EXCHANGE, Kit

PERSONAL = ("Анна", "a@example.com", "Europe/Moscow")


def _only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_trace_spans_the_request_the_relay_the_consumer_and_its_timer(kit: Kit) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter("kittest"))
    log = logging.getLogger("kittest.traces")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    fired: list[str] = []

    async def on_event(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        log.info("handling", extra={"event_id": str(event.event_id)})
        await schedule(
            uow.session, kind="follow_up", key=str(event.event_id), due_at=utcnow(), payload={}
        )

    async def follow_up(uow: UnitOfWork, timer: Timer) -> None:
        fired.append(timer.key)

    try:
        with recording_spans() as exporter:
            await kit.consume("traced", on_event)
            kit.start(kit.relay().run())
            user = uuid.uuid4()
            with tracer.start_as_current_span("POST /api/cabinet/me", kind=SpanKind.SERVER) as req:
                envelope = await kit.change_name(user, "Анна")
            trace_id = req.get_span_context().trace_id

            await wait_until(lambda: kit.seen_count(), timeout=10)
            worker = TimerWorker(kit.consumer_uow, {"follow_up": follow_up})
            await worker.run_due()
            assert fired == [str(envelope.event_id)]

            # The outbox row and the timer kept the context they were written in.
            async with kit.engine.connect() as conn:
                stored = (
                    await conn.execute(
                        select(outbox.c.trace_context).where(outbox.c.event_id == envelope.event_id)
                    )
                ).scalar_one()
                timer_context = (
                    await conn.execute(
                        select(timers.c.trace_context).where(timers.c.kind == "follow_up")
                    )
                ).scalar_one()
            assert stored["traceparent"].split("-")[1] == format(trace_id, "032x")
            assert timer_context["traceparent"].split("-")[1] == format(trace_id, "032x")

            spans = list(exporter.get_finished_spans())
    finally:
        log.removeHandler(handler)

    create = _only(spans, f"create {EXCHANGE}")
    send = _only(spans, f"send {EXCHANGE}")
    process = _only(spans, "process kittest.traced")
    fire = _only(spans, "timer follow_up")
    request = _only(spans, "POST /api/cabinet/me")
    chain = [request, create, send, process, fire]
    assert {s.context.trace_id for s in chain} == {trace_id}
    for parent, child in itertools.pairwise(chain):
        assert _parent_of(child) == parent.context.span_id, (parent.name, child.name)

    assert (create.kind, send.kind, process.kind) == (
        SpanKind.PRODUCER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    attrs: dict[str, Any] = dict(process.attributes or {})
    assert attrs["messaging.system"] == "rabbitmq"
    assert attrs["messaging.destination.name"] == EXCHANGE
    assert attrs["messaging.destination.subscription.name"] == "kittest.traced"
    assert attrs["messaging.message.id"] == str(envelope.event_id)
    assert attrs["messaging.operation.type"] == "process"
    assert dict(send.attributes or {})["messaging.message.id"] == str(envelope.event_id)
    for span in spans:
        text = json.dumps(dict(span.attributes or {}), ensure_ascii=False)
        assert not any(p in text for p in PERSONAL), (span.name, text)

    # The handler's log line names its trace and span.
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert logged and logged[0]["trace_id"] == format(trace_id, "032x")
    assert logged[0]["span_id"] == format(process.context.span_id, "016x")


async def test_the_relay_puts_the_traceparent_in_the_message_headers(kit: Kit) -> None:
    with recording_spans() as exporter:
        async with tapping(kit.amqp_url, EXCHANGE) as tap:
            kit.start(kit.relay().run())
            with tracer.start_as_current_span("request"):
                envelope = await kit.change_name(uuid.uuid4(), "Анна")
            await wait_until(lambda: len(tap.events) == 1, timeout=10)
        send = _only(list(exporter.get_finished_spans()), f"send {EXCHANGE}")
    headers = tap.headers[0]
    version, trace_hex, span_hex, _flags = str(headers["traceparent"]).split("-")
    assert version == "00"
    assert trace_hex == format(send.context.trace_id, "032x")
    assert span_hex == format(send.context.span_id, "016x")
    assert tap.events[0]["event_id"] == str(envelope.event_id)


async def test_untraced_work_stores_no_trace_context_and_the_message_has_no_traceparent(
    kit: Kit,
) -> None:
    assert not trace.get_current_span().get_span_context().is_valid
    async with tapping(kit.amqp_url, EXCHANGE) as tap:
        kit.start(kit.relay().run())
        envelope = await kit.change_name(uuid.uuid4(), "Анна")
        await wait_until(lambda: len(tap.events) == 1, timeout=10)
    assert "traceparent" not in tap.headers[0]
    async with kit.engine.connect() as conn:
        stored = (
            await conn.execute(
                select(outbox.c.trace_context).where(outbox.c.event_id == envelope.event_id)
            )
        ).scalar_one()
    assert stored is None
