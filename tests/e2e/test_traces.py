"""One trace from a booking to notify's mail, every service in this process, through RabbitMQ
for real (servicekit.tracing, docs/observability.md): the client books a session over booking's
HTTP API; booking confirms it and commits ``appointment.confirmed`` to its outbox; the relay
publishes it; notify's consumer plans the confirmation mail in a ``deliver`` timer; the sending
worker submits it over SMTP. Every one of those spans carries the trace id of booking's HTTP
request, each is the child of the one before, and none carries personal data.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from servicekit.testing import recording_spans, wait_until

from ..conftest import Stack
from .test_consent_gate import _first_session, _register

pytestmark = pytest.mark.asyncio(loop_scope="session")

BOOK = "POST /api/booking/appointments"
CONFIRMED = "Запись подтверждена"  # the subject of notify's mail about a confirmed booking


def _trace(spans: list[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context.trace_id == trace_id]


def _ancestry(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names from ``span`` up through its parents (as far as they have ended)."""
    by_id = {s.context.span_id: s for s in spans}
    names: list[str] = []
    current: ReadableSpan | None = span
    while current is not None:
        names.append(current.name)
        parent = current.parent
        current = by_id.get(parent.span_id) if parent is not None else None
    return names


async def test_one_trace_spans_a_booking_and_notifys_send(stack: Stack) -> None:
    client, email = await _register(stack, name="Ирина")
    with recording_spans() as exporter:
        await _first_session(stack, client, email)  # ends with the 201 of the booking

        def booked() -> ReadableSpan | None:
            for span in exporter.get_finished_spans():
                attrs = span.attributes or {}
                if span.name == BOOK and attrs.get("http.response.status_code") == 201:
                    return span
            return None

        await wait_until(lambda: booked() is not None, timeout=10)
        request = booked()
        assert request is not None and request.kind == SpanKind.SERVER
        trace_id = request.context.trace_id

        def mailed() -> bool:
            # an SMTP send whose every ancestor has ended, up to the request (the deliver timer's
            # span ends after the mail's, once the outcome is written)
            spans = _trace(list(exporter.get_finished_spans()), trace_id)
            return any(_ancestry(s, spans)[-1] == BOOK for s in spans if s.name == "smtp send")

        await wait_until(mailed, timeout=30)
        spans = _trace(list(exporter.get_finished_spans()), trace_id)

    names = {s.name for s in spans}
    # request → outbox → relay → notify's consumer → its deliver timer → the SMTP submission
    for name in (
        BOOK,
        "create booking.events",
        "send booking.events",
        "process notify.booking-events",
        "timer deliver",
        "smtp send",
    ):
        assert name in names, (name, sorted(names))
    ancestry = next(
        a for s in spans if s.name == "smtp send" and (a := _ancestry(s, spans))[-1] == BOOK
    )
    assert ancestry[:2] == ["smtp send", "timer deliver"], ancestry
    assert "process notify.booking-events" in ancestry and "send booking.events" in ancestry
    # the mail went to the client, and no span names them
    subjects = [m.subject or "" for m in stack.mail.messages(to=email)]
    assert any(s.startswith(CONFIRMED) for s in subjects), subjects
    for span in spans:
        text = json.dumps(dict(span.attributes or {}), ensure_ascii=False)
        assert email not in text and "Ирина" not in text, (span.name, text)
