"""Each rule: the event in (on the producer's exchange), the right mail out, to the right
address, in the recipient's language and zone; the same event twice sends once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentHeldV1,
    AppointmentRescheduledV1,
    RefundSucceededV1,
    WaitlistOfferMadeV1,
)
from contracts.content.v1 import InteractiveRunCompletedV1
from contracts.testing import example_envelope
from pydantic import BaseModel
from sandbox.smtp.store import StoredMessage

from .conftest import Notify, wait_for
from .test_recipients import register

pytestmark = pytest.mark.asyncio(loop_scope="session")

STARTS = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, 10:00 in Berlin
MSK_STARTS = "пятница, 15 марта 2030, 12:00 (Europe/Moscow, UTC+03:00)"


def appointment(model: type[BaseModel], client_id: uuid.UUID, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "appointment_id": extra.pop("appointment_id", uuid.uuid4()),
        "service_name": "Консультация психолога",
        "specialist_name": "Ольга Петрова",
        "format": "online",
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=50),
        "specialist_time_zone": "Europe/Berlin",
        "price": {"amount": 350000, "currency": "RUB"},
        **extra,
    }
    return example_envelope(model, **fields)


async def mail_with(notify: Notify, to: str, subject_part: str) -> StoredMessage:
    async def found() -> StoredMessage | None:
        for m in notify.smtp.store.messages(to=to):
            if subject_part in (m.subject or ""):
                return m
        return None

    message: StoredMessage = await wait_for(found)
    return message


async def test_held_sends_the_payment_link_in_the_clients_zone(notify: Notify) -> None:
    client, email = await register(notify, time_zone="Europe/Moscow")
    env = appointment(
        AppointmentHeldV1,
        client,
        hold_expires_at=STARTS - timedelta(hours=24) + timedelta(minutes=10),
        prepayment_required=True,
        confirmation_url="https://yoomoney.example/checkout/pay-123",
    )
    await notify.producer.publish(env)
    mail = await mail_with(notify, email, "Оплатите запись")
    assert mail.subject == "Оплатите запись: Консультация психолога, пятница, 15 марта 2030, 12:00"
    assert mail.text is not None
    assert "https://yoomoney.example/checkout/pay-123" in mail.text
    assert "Оплатите до 14 марта 2030, 12:10 (Europe/Moscow, UTC+03:00)" in mail.text
    assert "3\u00a0500,00\u00a0₽" in mail.text and "онлайн" in mail.text
    assert mail.html is not None and 'href="https://yoomoney.example/checkout/pay-123"' in mail.html


async def test_confirmed_in_english_across_a_dst_change(notify: Notify) -> None:
    client, email = await register(notify, language="en", time_zone="Europe/Berlin")
    starts = datetime(2030, 3, 31, 8, 0, tzinfo=UTC)  # the morning after the clocks went forward
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            client,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            amount_paid={"amount": 350000, "currency": "RUB"},
            intake_required=True,
            reschedule_count=0,
            format="in_person",
        )
    )
    mail = await mail_with(notify, email, "Booking confirmed")
    assert mail.subject == "Booking confirmed: Sunday, 31 March 2030, 10:00"
    assert mail.text is not None
    assert "Paid: RUB 3,500.00" in mail.text and "in person" in mail.text
    assert "intake form" in mail.text


async def test_rescheduled_shows_old_and_new_time(notify: Notify) -> None:
    client, email = await register(notify, time_zone="Asia/Vladivostok")
    new_start = STARTS + timedelta(days=1)
    await notify.producer.publish(
        appointment(
            AppointmentRescheduledV1,
            client,
            starts_at=new_start,
            ends_at=new_start + timedelta(minutes=50),
            previous_starts_at=STARTS,
            previous_ends_at=STARTS + timedelta(minutes=50),
            reschedule_count=1,
            max_reschedules=2,
            rescheduled_by="client",
        )
    )
    mail = await mail_with(notify, email, "Запись перенесена")
    assert mail.text is not None
    assert "Было: пятница, 15 марта 2030, 19:00 (Asia/Vladivostok, UTC+10:00)" in mail.text
    assert "Стало: суббота, 16 марта 2030, 19:00 (Asia/Vladivostok, UTC+10:00)" in mail.text


async def test_cancelled_tells_the_refund(notify: Notify) -> None:
    client, email = await register(notify)
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            client,
            previous_status="confirmed",
            cancelled_by="client",
            late_cancellation=False,
            refund_percent=50,
            refund_amount={"amount": 175000, "currency": "RUB"},
        )
    )
    mail = await mail_with(notify, email, "Запись отменена")
    assert mail.subject == "Запись отменена: пятница, 15 марта 2030, 12:00"
    assert mail.text is not None
    assert "Вы отменили запись" in mail.text
    assert "Мы вернём 50 % оплаты: 1\u00a0750,00\u00a0₽" in mail.text


async def test_late_cancellation_says_no_refund_in_english(notify: Notify) -> None:
    client, email = await register(notify, language="en")
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            client,
            previous_status="confirmed",
            cancelled_by="client",
            late_cancellation=True,
            refund_percent=0,
            refund_amount={"amount": 0, "currency": "RUB"},
        )
    )
    mail = await mail_with(notify, email, "Booking cancelled")
    assert mail.text is not None and "not refunded" in mail.text


async def test_expired_and_refund(notify: Notify) -> None:
    client, email = await register(notify)
    appointment_id = uuid.uuid4()
    await notify.producer.publish(
        appointment(
            AppointmentExpiredV1,
            client,
            appointment_id=appointment_id,
            hold_expires_at=STARTS - timedelta(days=1),
        )
    )
    expired = await mail_with(notify, email, "Время брони истекло")
    assert expired.text is not None and MSK_STARTS in expired.text
    await notify.producer.event(
        RefundSucceededV1,
        appointment_id=appointment_id,
        client_id=client,
        service_name="Консультация психолога",
        amount={"amount": 350000, "currency": "RUB"},
        percent=100,
        reason="late_payment",
    )
    refund = await mail_with(notify, email, "Возврат оплаты")
    assert refund.subject == "Возврат оплаты: 3\u00a0500,00\u00a0₽"
    assert refund.text is not None and "(100 % оплаты)" in refund.text


async def test_waitlist_offer_mail_links_to_the_bot(notify: Notify) -> None:
    client, email = await register(notify, language="en", time_zone="America/New_York")
    offer_id = uuid.uuid4()
    starts = datetime(2030, 11, 4, 15, 30, tzinfo=UTC)
    await notify.producer.event(
        WaitlistOfferMadeV1,
        offer_id=offer_id,
        client_id=client,
        service_name="Couples session",
        specialist_name="Olga Petrova",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        expires_at=datetime(2030, 11, 3, 12, 0, tzinfo=UTC),
        price={"amount": 500000, "currency": "RUB"},
    )
    mail = await mail_with(notify, email, "A time has opened up")
    assert mail.subject == "A time has opened up: Monday, 4 November 2030, 10:30"
    assert mail.text is not None
    assert "When: Monday, 4 November 2030, 10:30 (America/New_York, UTC-05:00)" in mail.text
    assert "until Sunday, 3 November 2030, 07:00 (America/New_York, UTC-05:00)" in mail.text
    assert "https://t.me/praktika_sandbox_bot?start=" in mail.text
    assert f"/waitlist/offers/{offer_id}" in mail.text


async def test_crisis_alerts_the_clients_specialist_at_once(notify: Notify) -> None:
    specialist, specialist_email = await register(
        notify, language="en", time_zone="Europe/Berlin", name="Dr Olga", roles=["specialist"]
    )
    client, client_email = await register(notify, name="Иван Клиентов")
    # quiet hours do not hold back an alert
    r = await notify.client.patch(
        f"/api/notify/preferences/{specialist}",
        json={"quiet_hours": {"start": "00:00", "end": "23:59"}},
        headers=notify.tokens.auth("specialist", sub=specialist),
    )
    assert r.status_code == 200
    await notify.producer.event(
        InteractiveRunCompletedV1,
        user_id=client,
        questionnaire_code="phq9",
        crisis=True,
        crisis_reasons=["phq9_item9"],
        score=21,
        band="severe",
        suggest_intake=False,
        assigned_by_specialist_id=specialist,
        completed_at=STARTS,
    )
    mail = await mail_with(notify, specialist_email, "Urgent")
    assert mail.subject == "Urgent: crisis answer from client Иван Клиентов"
    assert mail.text is not None and "PHQ-9" in mail.text
    assert "Friday, 15 March 2030, 10:00 (Europe/Berlin, UTC+01:00)" in mail.text
    # No health detail in mail: not the score (as a number of its own; ids may hold "21")...
    assert re.search(r"\b21\b", mail.text) is None and "severe" not in mail.text
    assert [m.subject for m in notify.smtp.store.messages(to=client_email)] == [
        "Добро пожаловать в Практику"
    ]


async def test_crisis_without_an_assigning_specialist_goes_to_the_one_booked(
    notify: Notify,
) -> None:
    specialist, specialist_email = await register(notify, roles=["specialist"])
    client, _ = await register(notify)
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            client,
            specialist_id=specialist,
            intake_required=False,
            reschedule_count=0,
            amount_paid=None,
        )
    )
    await mail_with(notify, (await _email_of(notify, client)), "Запись подтверждена")
    await notify.producer.event(
        InteractiveRunCompletedV1,
        user_id=client,
        crisis=True,
        assigned_by_specialist_id=None,
        questionnaire_code="phq9",
    )
    mail = await mail_with(notify, specialist_email, "Срочно")
    assert mail.text is not None and "PHQ-9" in mail.text


async def _email_of(notify: Notify, user_id: uuid.UUID) -> str:
    r = await notify.client.get(
        f"/api/notify/recipients/{user_id}", headers=notify.tokens.auth("admin")
    )
    return str(r.json()["email"])


async def test_no_crisis_no_alert(notify: Notify) -> None:
    specialist, specialist_email = await register(notify, roles=["specialist"])
    client, _ = await register(notify)
    env = await notify.producer.event(
        InteractiveRunCompletedV1,
        user_id=client,
        crisis=False,
        crisis_reasons=[],
        assigned_by_specialist_id=specialist,
    )
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM inbox WHERE consumer = 'notify.content-events' AND event_id = $1",
            env.event_id,
        )
    )
    assert [m.subject for m in notify.smtp.store.messages(to=specialist_email)] == [
        "Добро пожаловать в Практику"
    ]


async def test_the_same_event_twice_sends_once(notify: Notify) -> None:
    client, email = await register(notify)
    env = appointment(
        AppointmentConfirmedV1,
        client,
        intake_required=False,
        reschedule_count=0,
        amount_paid=None,
    )
    await notify.producer.publish(env)
    await notify.producer.publish(env)
    await mail_with(notify, email, "Запись подтверждена")
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM deliveries WHERE source_event_id = $1 AND status = 'sent'",
            env.event_id,
        )
    )
    later = appointment(AppointmentExpiredV1, client, hold_expires_at=STARTS)
    await notify.producer.publish(later)  # same queue, published after the duplicate
    await mail_with(notify, email, "Время брони истекло")
    confirmations = [
        m for m in notify.smtp.store.messages(to=email) if "подтверждена" in (m.subject or "")
    ]
    assert len(confirmations) == 1
    rows = await notify.rows("SELECT id FROM deliveries WHERE source_event_id = $1", env.event_id)
    assert len(rows) == 1


async def test_quiet_hours_hold_back_non_urgent_mail_but_not_urgent(notify: Notify) -> None:
    client, email = await register(notify, time_zone="Asia/Tokyo")
    local_now = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    start = (local_now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (local_now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    r = await notify.client.patch(
        f"/api/notify/preferences/{client}",
        json={"quiet_hours": {"start": start.isoformat(), "end": end.isoformat()}},
        headers=notify.tokens.auth("client", sub=client),
    )
    assert r.status_code == 200, r.text
    confirmed = appointment(
        AppointmentConfirmedV1,
        client,
        intake_required=False,
        reschedule_count=0,
        amount_paid=None,
    )
    held = appointment(
        AppointmentHeldV1,
        client,
        hold_expires_at=STARTS,
        prepayment_required=True,
        confirmation_url="https://pay.example/1",
    )
    await notify.producer.publish(confirmed)
    await notify.producer.publish(held)
    await mail_with(notify, email, "Оплатите запись")  # urgent: at once
    (row,) = await notify.rows(
        "SELECT status, next_attempt_at FROM deliveries WHERE source_event_id = $1",
        confirmed.event_id,
    )
    assert row["status"] == "pending"
    wait = row["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(minutes=100) < wait < timedelta(hours=2, minutes=1)
    assert not [
        m for m in notify.smtp.store.messages(to=email) if "подтверждена" in (m.subject or "")
    ]


async def test_password_reset_goes_to_the_address_in_the_event_at_once(notify: Notify) -> None:
    from contracts.cabinet.v1 import PasswordResetRequestedV1

    client, email = await register(notify, language="en")
    r = await notify.client.patch(
        f"/api/notify/preferences/{client}",
        json={"channels": ["telegram"], "quiet_hours": {"start": "00:00", "end": "23:59"}},
        headers=notify.tokens.auth("client", sub=client),
    )
    assert r.status_code == 200
    await notify.producer.event(
        PasswordResetRequestedV1,
        user_id=client,
        email=email,
        name="Mary",
        language="en",
        reset_url="https://app.example/reset#token-1",
        expires_at=STARTS,
    )
    mail = await mail_with(notify, email, "Reset your password")
    assert mail.text is not None and "https://app.example/reset#token-1" in mail.text
    assert "until Friday, 15 March 2030" in mail.text


async def test_a_second_registration_tells_the_addresss_owner_with_links_on_the_gateway(
    notify: Notify,
) -> None:
    from contracts.cabinet.v1 import RegistrationAttemptedV1

    owner, email = await register(notify, language="en")
    await notify.producer.event(
        RegistrationAttemptedV1,
        user_id=owner,
        email=email,
        name="Mary",
        language="en",
        attempted_at=STARTS,
    )
    mail = await mail_with(notify, email, "Someone tried to register with your address")
    assert mail.text is not None
    assert "Friday, 15 March 2030" in mail.text
    # Links lead to the public origin (the gateway by default), never to notify's own port.
    assert "http://127.0.0.1:8080/reset-password" in mail.text
    assert ":8004" not in mail.text
