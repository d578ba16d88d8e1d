"""A burst of reminders all due at once goes out under Telegram's real limits (about 30 messages a
second overall, one a second per chat): every one exactly once, none refused, none skipped; and
a reminder of an appointment cancelled just before its timer fires, or while the burst is queued,
is never sent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import AppointmentCancelledV1, AppointmentConfirmedV1, AppointmentFacts
from notify.adapters.tables import AppointmentCopy, Recipient, TelegramChat
from notify.domain.reminders import reminder_key
from sandbox.telegram.models import UserCreate
from sandbox.telegram.testing import densest_second
from sandbox.testing import RunningSmtpSink
from servicekit.security.fields import blind_index
from servicekit.testing import TokenMint
from servicekit.timers import Due, schedule_many

from .conftest import Notify, notify_under_telegram_limits, wait_for
from .test_rules import appointment

pytestmark = pytest.mark.asyncio(loop_scope="session")

RATE = 30  # Telegram: about 30 messages a second per bot (the fake refuses a 31st)
PACE = 25  # notify's default pace: headroom for the calls' jitter on their way
DAY = 1440  # the 24 h reminder (minutes before)


@pytest.fixture
async def limited(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    """notify with the production limits, and a Telegram fake that refuses (429) beyond them."""
    async with notify_under_telegram_limits(tokens, smtp, messages_per_second=float(PACE)) as n:
        await n.telegram.http.put(
            "/_sandbox/rate_limits", json={"per_chat_per_second": 1, "overall_per_second": RATE}
        )
        yield n


async def seed(
    notify: Notify, appointments_per_chat: list[int], chat_base: int, due: datetime
) -> dict[uuid.UUID, int]:
    """Clients with linked chats and confirmed appointments tomorrow, each appointment's 24 h
    reminder due at ``due`` (what the consumers leave behind): appointment id → chat id."""
    owner: dict[uuid.UUID, int] = {}
    timers: list[Due] = []
    starts = due + timedelta(minutes=DAY)
    async with notify.svc.runtime.uow() as uow:
        for i, count in enumerate(appointments_per_chat):
            chat_id, user_id = chat_base + i, uuid.uuid4()
            notify.telegram.store.add_user(
                UserCreate(id=chat_id, first_name="Burst", language_code="ru")
            )
            email = f"burst.{user_id.hex[:10]}@example.org"
            uow.session.add(
                Recipient(
                    user_id=user_id, email=email, email_index=blind_index(email, kind="email"),
                    name=f"Client {i}", time_zone="Europe/Moscow", language="ru",
                    roles=["client"], updated_at=due,
                )
            )  # fmt: skip
            chat = TelegramChat.for_chat_id(chat_id)
            chat.user_id, chat.linked_at = user_id, due
            uow.session.add(chat)
            for k in range(count):
                at = starts + timedelta(hours=k)
                p = appointment(
                    AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0,
                    amount_paid=None, starts_at=at, ends_at=at + timedelta(minutes=50),
                ).payload  # fmt: skip
                facts = AppointmentFacts.model_validate(p.model_dump()).model_dump(mode="json")
                uow.session.add(
                    AppointmentCopy(
                        appointment_id=p.appointment_id, client_id=user_id,
                        specialist_id=p.specialist_id, status="confirmed", starts_at=at,
                        facts=json.dumps({**facts, "amount_paid": None, "reschedule_count": 0}),
                        updated_at=due - timedelta(days=1),
                    )
                )  # fmt: skip
                payload = {"appointment_id": str(p.appointment_id), "minutes_before": DAY}
                timers.append(Due("reminder", reminder_key(p.appointment_id, DAY), due, payload))
                owner[p.appointment_id] = chat_id
        await uow.session.flush()
        await schedule_many(uow.session, timers)
        await uow.commit()
    return owner


def cancellation(appointment_id: uuid.UUID, client_id: uuid.UUID) -> Any:
    return appointment(
        AppointmentCancelledV1, client_id, appointment_id=appointment_id,
        previous_status="confirmed", cancelled_by="client", late_cancellation=False,
        refund_percent=100, refund_amount={"amount": 350000, "currency": "RUB"},
    )  # fmt: skip


async def reminder_rows(notify: Notify) -> list[Any]:
    return await notify.rows(
        "SELECT ref, status, attempts, last_error, provider_message_id, recipient "
        "FROM deliveries WHERE template = 'appointment_reminder'"
    )


async def sends(notify: Notify, chats: set[int]) -> list[dict[str, Any]]:
    records = (
        await notify.telegram.http.get("/_sandbox/sends", params={"method": "sendMessage"})
    ).json()
    return [s for s in records if s["chat_id"] in chats]


async def test_a_reminder_burst_goes_out_whole_once_each_within_telegram_limits(
    limited: Notify,
) -> None:
    notify = limited
    # 300 reminders due in the same moment: 180 chats with one, 60 with two (two appointments)
    per_chat = [1] * 180 + [2] * 60
    now = datetime.now(UTC)
    owner = await seed(notify, per_chat, 810_000_000, now)
    chats = set(owner.values())
    total = len(owner)
    started = time.time()

    async def all_arrived() -> bool:
        return len([s for s in await sends(notify, chats) if s["error_code"] is None]) >= total

    await wait_for(all_arrived, timeout=45)
    await asyncio.sleep(1.5)  # anything extra (a double) would have landed by now
    records = await sends(notify, chats)

    assert [s for s in records if s["error_code"] is not None] == []  # no 429: limits held
    assert len(records) == total  # every reminder once, nothing twice
    by_chat = Counter(s["chat_id"] for s in records)
    assert by_chat == Counter(owner.values())
    rows = await reminder_rows(notify)
    assert len(rows) == total
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert {r["ref"] for r in rows} == {f"appointment:{a}" for a in owner}
    # the Telegram fake's clock: never two to one chat within a second, about 30 a second
    times = [s["at"] for s in records]
    for chat, n in by_chat.items():
        if n > 1:
            ats = sorted(s["at"] for s in records if s["chat_id"] == chat)
            assert ats[1] - ats[0] >= 0.98
    assert densest_second(times) <= RATE
    span = max(times) - min(times)
    assert span >= (total - RATE) / RATE  # not faster than the limit allows
    assert total / span >= 0.8 * PACE  # and not much slower: the burst keeps the pace
    assert max(times) - started < 45


async def test_a_cancelled_appointments_reminder_is_never_sent_even_in_a_burst(
    limited: Notify,
) -> None:
    notify = limited
    now = datetime.now(UTC)
    owner = await seed(notify, [1] * 150, 820_000_000, now + timedelta(seconds=2))
    ids = list(owner)
    client_of = {
        r["appointment_id"]: r["client_id"]
        for r in await notify.rows("SELECT appointment_id, client_id FROM appointments")
    }
    # cancelled just before the timers fire (they are due in 2 s)
    early = ids[:20]
    for a in early:
        await notify.producer.publish(cancellation(a, client_of[a]))
    # cancelled while the burst is queued behind Telegram's pace: the last ones in line
    chats = set(owner.values())

    async def under_way() -> bool:
        return len(await sends(notify, chats)) >= 40

    await wait_for(under_way, timeout=30)
    queued = await notify.rows(
        "SELECT ref FROM deliveries WHERE template = 'appointment_reminder' "
        "AND status IN ('pending', 'retrying') ORDER BY created_at DESC LIMIT 20"
    )
    late = [uuid.UUID(r["ref"].split(":", 1)[1]) for r in queued]
    assert len(late) == 20  # the burst is still queued
    for a in late:
        await notify.producer.publish(cancellation(a, client_of[a]))
    cancelled = set(early) | set(late)
    kept = [a for a in ids if a not in cancelled]

    async def settled() -> bool:  # every reminder and cancellation notice sent or skipped
        sent = [r for r in await reminder_rows(notify) if r["status"] == "sent"]
        unsent = await notify.rows(
            "SELECT 1 FROM deliveries WHERE status IN ('pending', 'retrying', 'sending')"
        )
        notices = await notify.rows(
            "SELECT 1 FROM deliveries WHERE template = 'appointment_cancelled'"
        )
        return len(sent) >= len(kept) and len(notices) == len(cancelled) and not unsent

    await wait_for(settled, timeout=45)
    rows = {uuid.UUID(r["ref"].split(":", 1)[1]): r for r in await reminder_rows(notify)}
    for a in cancelled:  # planned and skipped, or never planned: never sent
        assert a not in rows or rows[a]["status"] == "skipped", rows[a]
        assert a not in rows or rows[a]["provider_message_id"] is None
    assert {rows[a]["status"] for a in kept} == {"sent"}
    # what the chats received: a reminder for each kept appointment, none for a cancelled one
    for a in [*early[:5], *late[:5]]:
        texts = [m["text"] for m in await notify.telegram.messages(owner[a], count=1, wait=5)]
        assert texts and not [t for t in texts if "Напоминание" in t], texts
    records = await sends(notify, chats)
    assert [s for s in records if s["error_code"] is not None] == []
    # each cancelled chat got its cancellation notice only; each kept chat its reminder only
    by_chat = Counter(s["chat_id"] for s in records)
    assert by_chat == Counter(owner.values())
