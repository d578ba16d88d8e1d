"""Every event booking and notify publish reaches someone who needs it: a declined payment tells
the client what next, an intake form tells the specialist, a held session gets a follow-up, a
no-show tells the policy, a refund that keeps failing alerts the admins, and a Telegram message
that failed for good goes by email once. Events go in through RabbitMQ as their producers send
them; what comes out is read from the SMTP sink and the Telegram fake."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentNoShowV1,
    IntakeSubmittedV1,
    PaymentFailedV1,
    RefundFailedV1,
)
from contracts.envelope import EventEnvelope
from sandbox.smtp.store import SmtpFault
from sandbox.testing import RunningSmtpSink
from servicekit.testing import TokenMint, temporary_vhost

from .conftest import Notify, running_notify, unique_email, wait_for
from .test_recipients import register
from .test_rules import STARTS, appointment, mail_with
from .test_telegram import linked_user

pytestmark = pytest.mark.asyncio(loop_scope="session")

PRICE = {"amount": 350000, "currency": "RUB"}


async def handled(notify: Notify, event_id: uuid.UUID | str, consumer: str) -> None:
    """Wait until ``consumer`` has committed the event ``event_id``."""
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2",
            f"notify.{consumer}",
            uuid.UUID(str(event_id)),
        )
    )


def subjects(notify: Notify, email: str) -> list[str]:
    return [m.subject or "" for m in notify.smtp.store.messages(to=email)]


async def confirmed(notify: Notify, client: uuid.UUID, **extra: Any) -> uuid.UUID:
    """A confirmed appointment notify knows of (its confirmation mail arrived)."""
    appointment_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "intake_required": False,
        "reschedule_count": 0,
        "amount_paid": None,
        **extra,
    }
    env = appointment(AppointmentConfirmedV1, client, appointment_id=appointment_id, **fields)
    await notify.producer.publish(env)
    await handled(notify, env.event_id, "booking-events")
    return appointment_id


# -- booking.payment.failed ---------------------------------------------------------------


async def test_declined_payment_tells_the_client_why_and_until_when_to_retry(
    notify: Notify,
) -> None:
    client, email = await register(notify, time_zone="Europe/Moscow")
    appointment_id = uuid.uuid4()
    await notify.producer.event(
        PaymentFailedV1,
        appointment_id=appointment_id,
        client_id=client,
        service_name="Консультация психолога",
        amount=PRICE,
        reason="insufficient_funds",
        party="payment_network",
        hold_expires_at=datetime(2030, 3, 14, 9, 10, tzinfo=UTC),
    )
    mail = await mail_with(notify, email, "Оплата не прошла")
    assert mail.subject == "Оплата не прошла: Консультация психолога"
    assert mail.text is not None
    assert (
        "Платёж 3\u00a0500,00\u00a0₽ за «Консультация психолога» не прошёл: "
        "на карте недостаточно денег." in mail.text
    )
    assert "Время остаётся за вами до 14 марта 2030, 12:10 (Europe/Moscow, UTC+03:00)" in mail.text
    assert f"/appointments/{appointment_id}" in mail.text


async def test_declined_payment_after_the_hold_offers_another_time_in_english(
    notify: Notify,
) -> None:
    client, email = await register(notify, language="en")
    await notify.producer.event(
        PaymentFailedV1,
        client_id=client,
        service_name="Therapy",
        amount=PRICE,
        reason="something_new",
        hold_expires_at=None,
    )
    mail = await mail_with(notify, email, "Payment failed")
    assert mail.text is not None
    assert "did not go through: the bank or the payment system declined the payment" in mail.text
    assert "The hold on this time has ended. Please pick another time:" in mail.text
    assert "/booking" in mail.text


# -- booking.intake.submitted -------------------------------------------------------------


async def test_intake_form_tells_the_specialist_not_the_answers(notify: Notify) -> None:
    specialist, specialist_email = await register(
        notify, language="en", time_zone="Europe/Berlin", roles=["specialist"], name="Dr Olga"
    )
    client, client_email = await register(notify, name="Иван Клиентов")
    appointment_id = await confirmed(notify, client, specialist_id=specialist)
    form_id = uuid.uuid4()
    env = await notify.producer.event(
        IntakeSubmittedV1,
        intake_form_id=form_id,
        client_id=client,
        specialist_id=specialist,
        appointment_id=appointment_id,
    )
    mail = await mail_with(notify, specialist_email, "intake form")
    assert mail.subject == "A client filled in the intake form"
    assert mail.text is not None
    assert "Client Иван Клиентов filled in the intake form." in mail.text
    assert "Session: Friday, 15 March 2030, 10:00 (Europe/Berlin, UTC+01:00)" in mail.text
    assert f"/specialist/intake-forms/{form_id}" in mail.text
    # the event's messages were planned together: the specialist's is the only one
    rows = await notify.rows(
        "SELECT user_id FROM deliveries WHERE source_event_id = $1", env.event_id
    )
    assert [r["user_id"] for r in rows] == [specialist]
    assert not [s for s in subjects(notify, client_email) if "анкет" in s.lower()]


# -- booking.appointment.completed / no_show ----------------------------------------------


async def test_completed_session_sends_the_client_a_follow_up(notify: Notify) -> None:
    client, email = await register(notify)
    specialist = uuid.uuid4()
    appointment_id = await confirmed(notify, client, specialist_id=specialist)
    await notify.producer.publish(
        appointment(
            AppointmentCompletedV1,
            client,
            appointment_id=appointment_id,
            specialist_id=specialist,
            marked_by_user_id=specialist,
        )
    )
    mail = await mail_with(notify, email, "Спасибо за встречу")
    assert mail.text is not None
    assert "Спасибо, что пришли: Консультация психолога со специалистом Ольга Петрова" in mail.text
    assert f"/booking?specialist_id={specialist}" in mail.text


async def test_no_show_tells_the_policy_and_names_the_payment_only_when_paid(
    notify: Notify,
) -> None:
    paid_client, paid_email = await register(notify)
    unpaid_client, unpaid_email = await register(notify, language="en")
    paid = await confirmed(notify, paid_client, amount_paid=PRICE)
    unpaid = await confirmed(notify, unpaid_client, amount_paid=None)
    for client, appointment_id in ((paid_client, paid), (unpaid_client, unpaid)):
        await notify.producer.publish(
            appointment(
                AppointmentNoShowV1,
                client,
                appointment_id=appointment_id,
                marked_by_user_id=uuid.uuid4(),
                client_no_show_count=1,
            )
        )
    ru = await mail_with(notify, paid_email, "Пропущенная встреча")
    assert ru.text is not None
    assert "Специалист отметил, что вы не пришли на встречу" in ru.text
    assert "оплата пропущенной встречи не возвращается (3\u00a0500,00\u00a0₽)" in ru.text
    en = await mail_with(notify, unpaid_email, "Missed session")
    assert en.text is not None
    assert "cancel or reschedule in advance" in en.text
    for word in ("refund", "paid", "payment", "RUB"):
        assert word not in en.text


async def test_unpaid_cancellation_by_the_specialist_mentions_no_refund(notify: Notify) -> None:
    client, email = await register(notify)
    await notify.producer.publish(
        appointment(
            AppointmentCancelledV1,
            client,
            previous_status="held",
            cancelled_by="specialist",
            late_cancellation=False,
            refund_percent=100,
            refund_amount={"amount": 0, "currency": "RUB"},
            payment_id=None,
            refund_id=None,
        )
    )
    mail = await mail_with(notify, email, "Запись отменена")
    assert mail.text is not None and "Специалист отменил запись" in mail.text
    assert "верн" not in mail.text and "оплат" not in mail.text and "₽" not in mail.text


# -- booking.refund.failed ----------------------------------------------------------------


def refund_failed(client: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client,
        "amount": {"amount": 175000, "currency": "RUB"},
        "reason": "insufficient_funds",
        "attempts": 3,
        "failed_at": STARTS,
        "provider_refund_id": "2f3c-yookassa-refund",
        **extra,
    }


async def test_a_refund_that_keeps_failing_alerts_every_admin(notify: Notify) -> None:
    first, first_email = await register(notify, roles=["admin"])
    second, second_email = await register(notify, language="en", roles=["client", "admin"])
    client, client_email = await register(notify, name="Иван Клиентов")
    # quiet hours do not hold an alert back
    r = await notify.client.patch(
        "/api/notify/me/preferences",
        json={"quiet_hours": {"start": "00:00", "end": "23:59"}},
        headers=notify.tokens.auth("admin", sub=first),
    )
    assert r.status_code == 200, r.text
    appointment_id = uuid.uuid4()
    env = await notify.producer.event(
        RefundFailedV1, **refund_failed(client, appointment_id=appointment_id)
    )
    ru = await mail_with(notify, first_email, "Возврат не прошёл")
    assert ru.subject == "Возврат не прошёл: 1\u00a0750,00\u00a0₽"
    assert ru.text is not None
    assert "ЮKassa отменила возврат 1\u00a0750,00\u00a0₽ клиенту Иван Клиентов" in ru.text
    assert "(попыток: 3). Причина ЮKassa: insufficient_funds" in ru.text
    assert f"/admin/appointments/{appointment_id}" in ru.text
    assert "2f3c-yookassa-refund" in ru.text
    en = await mail_with(notify, second_email, "Refund failed")
    assert en.text is not None and "The client has not got this money back" in en.text
    rows = await notify.rows(
        "SELECT user_id, category, status FROM deliveries WHERE source_event_id = $1",
        env.event_id,
    )
    assert {r["user_id"] for r in rows} >= {first, second}
    assert client not in {r["user_id"] for r in rows}
    assert all(r["category"] == "alert" for r in rows)
    assert subjects(notify, client_email) == ["Добро пожаловать в Практику"]


@pytest.fixture(scope="module")
async def without_admins(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    """notify that knows no admin user yet, with an address for admin alerts configured."""
    async with (
        temporary_vhost() as amqp_url,
        running_notify(
            amqp_url=amqp_url,
            tokens=tokens,
            smtp=smtp,
            admin_alert_email="alerts.desk@practice.example",
        ) as n,
    ):
        yield n


async def test_without_admin_users_the_alert_goes_to_the_configured_address(
    without_admins: Notify,
) -> None:
    env = await without_admins.producer.event(RefundFailedV1, **refund_failed(uuid.uuid4()))
    mail = await mail_with(without_admins, "alerts.desk@practice.example", "Возврат не прошёл")
    assert mail.text is not None and "Клиент этих денег не получил" in mail.text
    (row,) = await without_admins.rows(
        "SELECT status, category FROM deliveries WHERE source_event_id = $1", env.event_id
    )
    assert row["category"] == "alert"


# -- notify.delivery.failed: Telegram falls back to email ---------------------------------


async def deliveries_of(notify: Notify, env: EventEnvelope[Any]) -> list[Any]:
    return await notify.rows(
        "SELECT id, channel, status, last_error, fallback_of FROM deliveries "
        "WHERE source_event_id = $1 ORDER BY created_at",
        env.event_id,
    )


async def test_a_telegram_message_that_fails_for_good_goes_by_email_once(notify: Notify) -> None:
    user_id, email, chat_id = await linked_user(notify)
    await notify.telegram.fault(
        400, description="Bad Request: chat not found", method="sendMessage", chat_id=chat_id
    )
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    mail = await mail_with(notify, email, "Запись подтверждена")
    assert mail.text is not None and "Консультация психолога" in mail.text
    telegram, by_email = await wait_for(lambda: _when_sent(deliveries_of(notify, env), count=2))
    assert (telegram["channel"], telegram["status"]) == ("telegram", "failed")
    assert by_email["channel"] == "email" and by_email["fallback_of"] == telegram["id"]
    (failed,) = await notify.events.wait_for("notify.delivery.failed", delivery_id=telegram["id"])
    await handled(notify, failed["event_id"], "delivery-failures")
    assert len(await deliveries_of(notify, env)) == 2
    assert len([s for s in subjects(notify, email) if "подтверждена" in s]) == 1


async def _when_sent(rows: Any, *, count: int) -> list[Any] | None:
    found = list(await rows)
    if len(found) == count and all(r["status"] in ("sent", "failed", "skipped") for r in found):
        return found
    return None


async def test_no_email_fallback_when_the_user_keeps_only_telegram(notify: Notify) -> None:
    user_id, email, chat_id = await linked_user(notify)
    r = await notify.client.patch(
        "/api/notify/me/preferences",
        json={"channels": ["telegram"]},
        headers=notify.tokens.auth("client", sub=user_id),
    )
    assert r.status_code == 200 and r.json()["channels"] == ["telegram"]
    await notify.telegram.fault(400, description="Bad Request: chat not found", chat_id=chat_id)
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    telegram, by_email = await wait_for(lambda: _when_sent(deliveries_of(notify, env), count=2))
    assert telegram["status"] == "failed"
    assert (by_email["channel"], by_email["status"], by_email["last_error"]) == (
        "email",
        "skipped",
        "email_not_in_preferences",
    )
    assert subjects(notify, email) == ["Добро пожаловать в Практику"]


async def test_a_failed_email_fallback_goes_nowhere_else(notify: Notify) -> None:
    email = unique_email("nowhere")
    user_id, _, chat_id = await linked_user(notify, email=email)
    notify.smtp.store.add_fault(SmtpFault(smtp_code=550, stage="rcpt", rcpt=email, times=5))
    await notify.telegram.fault(400, description="Bad Request: chat not found", chat_id=chat_id)
    env = appointment(
        AppointmentConfirmedV1, user_id, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(env)
    telegram, by_email = await wait_for(lambda: _when_sent(deliveries_of(notify, env), count=2))
    assert (telegram["status"], by_email["status"]) == ("failed", "failed")
    (failed,) = await wait_for(
        lambda: notify.events.of("notify.delivery.failed", delivery_id=by_email["id"])
    )
    assert failed["payload"]["channel"] == "email"
    await handled(notify, failed["event_id"], "delivery-failures")
    assert len(await deliveries_of(notify, env)) == 2  # no third try, no loop


# -- /me: my preferences, unlinking my Telegram -------------------------------------------


async def test_my_preferences_are_mine_without_knowing_my_id(notify: Notify) -> None:
    anna, _ = await register(notify, time_zone="Asia/Tokyo")
    boris, _ = await register(notify, language="en")
    as_anna = notify.tokens.auth("client", sub=anna)
    as_boris = notify.tokens.auth("client", sub=boris)
    mine = await notify.client.get("/api/notify/me/preferences", headers=as_anna)
    assert mine.status_code == 200
    assert mine.json()["user_id"] == str(anna) and mine.json()["time_zone"] == "Asia/Tokyo"
    r = await notify.client.patch(
        "/api/notify/me/preferences", json={"channels": ["email"]}, headers=as_boris
    )
    assert r.status_code == 200 and r.json()["user_id"] == str(boris)
    again = await notify.client.get("/api/notify/me/preferences", headers=as_anna)
    assert again.json()["channels"] == ["telegram", "email"]  # Boris's change is his own
    assert (await notify.client.get("/api/notify/me/preferences")).status_code == 401
    stranger = notify.tokens.auth("client", sub=uuid.uuid4())
    r = await notify.client.get("/api/notify/me/preferences", headers=stranger)
    assert r.status_code == 404
    r = await notify.client.patch(
        "/api/notify/me/preferences", json={"channels": []}, headers=as_anna
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"


async def test_unlinking_telegram_touches_only_my_own_chat(notify: Notify) -> None:
    anna, _, anna_chat = await linked_user(notify)
    boris, boris_email, boris_chat = await linked_user(notify)
    as_anna = notify.tokens.auth("client", sub=anna)
    as_boris = notify.tokens.auth("client", sub=boris)
    # a message to Boris waits for the end of his quiet hours, in Telegram
    r = await notify.client.patch(
        "/api/notify/me/preferences",
        json={"quiet_hours": {"start": "00:00", "end": "23:59"}},
        headers=as_boris,
    )
    assert r.status_code == 200
    waiting = appointment(
        AppointmentConfirmedV1, boris, intake_required=False, reschedule_count=0, amount_paid=None
    )
    await notify.producer.publish(waiting)
    await handled(notify, waiting.event_id, "booking-events")
    (row,) = await deliveries_of(notify, waiting)
    assert (row["channel"], row["status"]) == ("telegram", "pending")

    r = await notify.client.delete("/api/notify/me/telegram", headers=as_boris)
    assert r.status_code == 204
    r = await notify.client.delete("/api/notify/me/telegram", headers=as_boris)
    assert r.status_code == 404 and r.json()["code"] == "telegram_not_linked"
    boris_prefs = (await notify.client.get("/api/notify/me/preferences", headers=as_boris)).json()
    anna_prefs = (await notify.client.get("/api/notify/me/preferences", headers=as_anna)).json()
    assert not boris_prefs["telegram_linked"] and anna_prefs["telegram_linked"]
    # what waited for Boris's chat goes by email now
    moved = await notify.client.get(
        f"/api/notify/deliveries/{row['id']}", headers=notify.tokens.auth("admin")
    )
    assert moved.json()["channel"] == "email" and moved.json()["recipient"] == boris_email
    assert moved.json()["status"] == "pending"
    # Anna's chat still gets her messages; Boris's chat gets nothing more
    await notify.producer.publish(
        appointment(
            AppointmentConfirmedV1,
            anna,
            intake_required=False,
            reschedule_count=0,
            amount_paid=None,
        )
    )
    *_, confirmation = await notify.telegram.messages(anna_chat, count=3, wait=20)
    assert confirmation["text"].startswith("Запись подтверждена")
    assert len(await notify.telegram.messages(boris_chat, count=5)) == 2  # the linking replies


# -- the delivery log ---------------------------------------------------------------------


async def test_the_delivery_log_lists_newest_first(notify: Notify) -> None:
    older, _ = await register(notify)
    newer, _ = await register(notify)
    admin = notify.tokens.auth("admin")
    r = await notify.client.get("/api/notify/deliveries", params={"limit": 5}, headers=admin)
    items = r.json()["items"]
    stamps = [datetime.fromisoformat(i["created_at"]) for i in items]
    assert stamps == sorted(stamps, reverse=True)
    assert items[0]["user_id"] == str(newer)
    assert str(older) in [i["user_id"] for i in items]
    assert datetime.now(UTC) - stamps[0] < timedelta(minutes=5)
    # the next page goes on further back in time
    page2 = await notify.client.get(
        "/api/notify/deliveries",
        params={"limit": 5, "cursor": r.json()["next_cursor"]},
        headers=admin,
    )
    older_stamps = [datetime.fromisoformat(i["created_at"]) for i in page2.json()["items"]]
    assert older_stamps and max(older_stamps) <= min(stamps)
