"""The crisis path through RabbitMQ, the SMTP sink and the Telegram fake: a crisis answer alerts
the right person on Telegram and email at once (never the score or the answers), the audit
records each recipient and channel, a failed or late alert escalates to the admins, a run is
alerted about once; and the other content messages: the intake suggestion, an assigned and an
overdue questionnaire."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import AppointmentCompletedV1, AppointmentConfirmedV1
from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    InteractiveRunCompletedV1,
)
from contracts.envelope import EventEnvelope
from contracts.testing import example_envelope
from sandbox.smtp.store import SmtpFault
from sandbox.testing import RunningSmtpSink
from servicekit.testing import TokenMint, temporary_vhost

from .conftest import Notify, running_notify, running_telegram, wait_for
from .test_recipients import register
from .test_rules import appointment, mail_with
from .test_telegram import bot_messages, linked_user, new_chat_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

COMPLETED = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
ALERTS = "/api/notify/crisis-alerts"


def crisis_run(client: uuid.UUID, **extra: Any) -> EventEnvelope[Any]:
    fields: dict[str, Any] = {
        "user_id": client,
        "questionnaire_code": "phq9",
        "score": 21,
        "max_score": 27,
        "band": "severe",
        "crisis": True,
        "crisis_reasons": ["phq9_item9"],
        "suggest_intake": False,
        "assigned_by_specialist_id": None,
        "completed_at": COMPLETED,
        **extra,
    }
    return example_envelope(InteractiveRunCompletedV1, **fields)


async def audit(notify: Notify, run_id: uuid.UUID, **params: Any) -> list[dict[str, Any]]:
    r = await notify.client.get(
        ALERTS, params={"run_id": str(run_id), **params}, headers=notify.tokens.auth("admin")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def settled_audit(
    notify: Notify, run_id: uuid.UUID, count: int, **params: Any
) -> list[dict[str, Any]]:
    """The run's audit once it has ``count`` rows and none is pending any more."""

    async def settled() -> list[dict[str, Any]] | None:
        rows = await audit(notify, run_id, **params)
        if len(rows) == count and all(r["status"] != "pending" for r in rows):
            return rows
        return None

    found: list[dict[str, Any]] = await wait_for(settled, timeout=30)
    return found


def no_health_detail(text: str) -> None:
    """Not the score (as a number of its own; ids may hold "21"), the band, or an answer."""
    assert re.search(r"\b21\b", text) is None
    for word in ("severe", "тяжел", "nearly_every_day", "Почти каждый день", "phq9_item9"):
        assert word not in text


async def handled(notify: Notify, event_id: uuid.UUID) -> None:
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM inbox WHERE consumer = 'notify.content-events' AND event_id = $1",
            event_id,
        )
    )


async def test_a_crisis_alerts_the_assigning_specialist_on_telegram_and_email(
    notify: Notify,
) -> None:
    specialist, specialist_email, chat_id = await linked_user(
        notify, language="en", time_zone="Europe/Berlin", name="Dr Olga", roles=["specialist"]
    )
    client, client_email = await register(notify, name="Иван Клиентов")
    env = crisis_run(client, assigned_by_specialist_id=specialist)
    await notify.producer.publish(env)
    run_id = env.payload.run_id

    mail = await mail_with(notify, specialist_email, "Urgent")
    assert mail.subject == "Urgent: crisis answer from client Иван Клиентов"
    assert mail.text is not None
    assert "PHQ-9" in mail.text
    assert "Completed: Friday, 15 March 2030, 10:00 (Europe/Berlin, UTC+01:00)" in mail.text
    assert f"http://127.0.0.1:8080/api/content/runs/{run_id}" in mail.text
    no_health_detail(mail.text)
    *_, message = await bot_messages(notify, chat_id, 3)  # after the two linking replies
    assert message["text"].startswith("Urgent: crisis answer\nClient Иван Клиентов marked")
    assert f"/api/content/runs/{run_id}" in message["text"]
    no_health_detail(message["text"])

    rows = await settled_audit(notify, run_id, 2)
    assert {(r["channel"], r["status"]) for r in rows} == {("telegram", "sent"), ("email", "sent")}
    for row in rows:
        assert (row["kind"], row["route"], row["recipient_user_id"]) == (
            "alert",
            "assigned",
            str(specialist),
        )
        assert row["client_id"] == str(client) and row["sent_at"] is not None
        assert row["escalated_at"] is None
    assert {r["recipient"] for r in rows} == {specialist_email, str(chat_id)}
    # the client hears nothing of it from notify
    assert [m.subject for m in notify.smtp.store.messages(to=client_email)] == [
        "Добро пожаловать в Практику"
    ]


async def test_the_specialist_of_the_next_appointment_is_told_not_of_the_furthest(
    notify: Notify,
) -> None:
    soon, later, before = [
        await register(notify, roles=["specialist"], name=n) for n in ("Скоро", "Потом", "Раньше")
    ]
    client, _ = await register(notify)
    now = datetime.now(UTC)
    booked = [
        (later[0], AppointmentConfirmedV1, now + timedelta(days=40)),
        (soon[0], AppointmentConfirmedV1, now + timedelta(days=3)),
        (before[0], AppointmentCompletedV1, now - timedelta(days=5)),
    ]
    for specialist, model, starts in booked:
        env = appointment(
            model,
            client,
            specialist_id=specialist,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            **(
                {"intake_required": False, "reschedule_count": 0, "amount_paid": None}
                if model is AppointmentConfirmedV1
                else {}
            ),
        )
        await notify.producer.publish(env)
        await wait_for(
            lambda e=env: notify.rows(
                "SELECT 1 FROM appointments WHERE appointment_id = $1", e.payload.appointment_id
            )
        )
    env = crisis_run(client)
    await notify.producer.publish(env)
    await mail_with(notify, soon[1], "Срочно")
    rows = await settled_audit(notify, env.payload.run_id, 2)  # email, and Telegram not linked
    assert {(r["route"], r["recipient_user_id"]) for r in rows} == {
        ("next_appointment", str(soon[0]))
    }
    telegram = next(r for r in rows if r["channel"] == "telegram")
    assert (telegram["status"], telegram["error"], telegram["delivery_id"]) == (
        "skipped",
        "telegram_not_linked",
        None,
    )
    for other in (later, before):
        assert not [m for m in notify.smtp.store.messages(to=other[1]) if "Срочно" in m.subject]


async def test_a_blocked_chat_escalates_to_the_admins_and_the_audit_says_so(
    notify: Notify,
) -> None:
    specialist, specialist_email, chat_id = await linked_user(
        notify, roles=["specialist"], name="Анна Петрова"
    )
    admin, admin_email = await register(notify, roles=["admin"], name="Администратор")
    client, _ = await register(notify, name="Пётр Клиентов")
    await notify.telegram.block(chat_id)
    env = crisis_run(client, assigned_by_specialist_id=specialist)
    await notify.producer.publish(env)
    run_id = env.payload.run_id

    escalation = await mail_with(notify, admin_email, "не доставлено")
    assert escalation.subject == "Срочно: оповещение о кризисном ответе не доставлено"
    assert escalation.text is not None
    assert "Пётр Клиентов" in escalation.text and "Кому: Анна Петрова" in escalation.text
    assert "Канал: Telegram" in escalation.text
    assert "Причина: чат Telegram заблокировал бота" in escalation.text
    assert f"/api/content/runs/{run_id}" in escalation.text
    assert f"/api/notify/crisis-alerts?run_id={run_id}" in escalation.text
    no_health_detail(escalation.text)
    await mail_with(notify, specialist_email, "Срочно")  # email still carried the alert

    alerts = await settled_audit(notify, run_id, 2, kind="alert")
    by_channel = {r["channel"]: r for r in alerts if r["kind"] == "alert"}
    assert by_channel["email"]["status"] == "sent"
    blocked = by_channel["telegram"]
    assert blocked["status"] == "failed" and "blocked" in blocked["error"]
    assert blocked["failed_at"] is not None and blocked["escalated_at"] is not None
    escalations = await audit(notify, run_id, kind="escalation")
    told = {r["recipient_user_id"] for r in escalations}
    assert str(admin) in told and str(specialist) not in told
    assert {r["escalation_of"] for r in escalations} == {blocked["id"]}
    assert {r["route"] for r in escalations} == {"admins"}
    # the failed Telegram message does not go by email again: the alert went by email already
    await notify.all_published()
    urgent = [m for m in notify.smtp.store.messages(to=specialist_email) if "Срочно" in m.subject]
    assert len(urgent) == 1


async def test_a_failed_email_escalates(notify: Notify) -> None:
    specialist, specialist_email = await register(notify, roles=["specialist"])
    _, admin_email = await register(notify, roles=["admin"])
    client, _ = await register(notify)
    notify.smtp.store.add_fault(
        SmtpFault(smtp_code=550, stage="rcpt", rcpt=specialist_email, times=1)
    )
    env = crisis_run(client, assigned_by_specialist_id=specialist)
    await notify.producer.publish(env)
    escalation = await mail_with(notify, admin_email, "не доставлено")
    assert escalation.text is not None
    assert "Канал: почта" in escalation.text and "Причина: доставка не удалась" in escalation.text
    rows = await settled_audit(notify, env.payload.run_id, 2, kind="alert")
    email = next(r for r in rows if r["channel"] == "email")
    assert email["status"] == "failed" and "550" in email["error"]
    telegram = next(r for r in rows if r["channel"] == "telegram")
    assert telegram["escalated_at"] is None  # never linked: not a failure of its own


async def test_a_run_is_alerted_about_once_whatever_redelivers_it(notify: Notify) -> None:
    specialist, specialist_email = await register(notify, roles=["specialist"])
    client, _ = await register(notify)
    first = crisis_run(client, assigned_by_specialist_id=specialist)
    await notify.producer.publish(first)
    await notify.producer.publish(first)  # the broker redelivers the same message
    again = example_envelope(
        InteractiveRunCompletedV1, **first.payload.model_dump()
    )  # the same run in a new event
    assert again.event_id != first.event_id
    await notify.producer.publish(again)
    await handled(notify, first.event_id)
    await handled(notify, again.event_id)
    await mail_with(notify, specialist_email, "Срочно")
    rows = await notify.rows(
        "SELECT source_event_id FROM deliveries WHERE template = 'crisis_alert' "
        "AND source_event_id = ANY($1::uuid[])",
        [first.event_id, again.event_id],
    )
    assert [r["source_event_id"] for r in rows] == [first.event_id]
    assert len(await audit(notify, first.payload.run_id)) == 2  # email + Telegram not linked
    (run,) = await notify.rows(
        "SELECT source_event_id FROM crisis_runs WHERE run_id = $1", first.payload.run_id
    )
    assert run["source_event_id"] == first.event_id


async def test_the_crisis_audit_is_for_admins_newest_first_page_by_page(notify: Notify) -> None:
    specialist, _ = await register(notify, roles=["specialist"])
    client, _ = await register(notify)
    runs = []
    for _ in range(2):
        env = crisis_run(client, assigned_by_specialist_id=specialist)
        await notify.producer.publish(env)
        await handled(notify, env.event_id)
        runs.append(env.payload.run_id)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"client_id": str(client), "limit": 1}
        if cursor:
            params["cursor"] = cursor
        r = await notify.client.get(ALERTS, params=params, headers=notify.tokens.auth("admin"))
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and len({r["id"] for r in seen}) == 4
    stamps = [(r["created_at"], r["id"]) for r in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert [r["run_id"] for r in seen][:2] == [str(runs[1])] * 2
    as_specialist = notify.tokens.auth("specialist", sub=specialist)
    assert (await notify.client.get(ALERTS, headers=as_specialist)).status_code == 403
    assert (await notify.client.get(ALERTS)).status_code == 401


# -- the other content messages ------------------------------------------------------------


async def test_a_score_that_suggests_an_intake_gets_a_booking_link(notify: Notify) -> None:
    client, email = await register(notify)
    env = crisis_run(client, crisis=False, crisis_reasons=[], suggest_intake=True)
    await notify.producer.publish(env)
    mail = await mail_with(notify, email, "Запись на первую консультацию")
    assert mail.text is not None
    assert "опросник PHQ-9" in mail.text and "http://127.0.0.1:8080/booking" in mail.text
    no_health_detail(mail.text)


async def test_a_client_booked_already_gets_no_intake_suggestion(notify: Notify) -> None:
    client, _ = await register(notify)
    starts = datetime.now(UTC) + timedelta(days=3)
    booked = appointment(
        AppointmentConfirmedV1,
        client,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        intake_required=False,
        reschedule_count=0,
        amount_paid=None,
    )
    await notify.producer.publish(booked)
    await wait_for(
        lambda: notify.rows(
            "SELECT 1 FROM appointments WHERE appointment_id = $1", booked.payload.appointment_id
        )
    )
    env = crisis_run(client, crisis=False, crisis_reasons=[], suggest_intake=True)
    await notify.producer.publish(env)
    await handled(notify, env.event_id)
    assert not await notify.rows(
        "SELECT 1 FROM deliveries WHERE source_event_id = $1", env.event_id
    )


async def test_an_assigned_questionnaire_is_told_to_the_client_in_their_zone(
    notify: Notify,
) -> None:
    specialist, _ = await register(notify, roles=["specialist"], name="Анна Петрова")
    client, email = await register(notify, time_zone="Asia/Yekaterinburg")
    env = example_envelope(
        AssignmentCreatedV1,
        client_id=client,
        specialist_id=specialist,
        questionnaire_code="gad7",
        due_at=datetime(2030, 3, 20, 9, 0, tzinfo=UTC),
        repeat_every_days=14,
    )
    await notify.producer.publish(env)
    p = env.payload
    mail = await mail_with(notify, email, "Заполните опросник GAD-7")
    assert mail.text is not None
    assert (
        "Анна Петрова просит вас заполнить опросник GAD-7 до "
        "20 марта 2030, 14:00 (Asia/Yekaterinburg, UTC+05:00)." in mail.text
    )
    assert "через 14 дн." in mail.text
    link = f"http://127.0.0.1:8080/questionnaires/{p.questionnaire_id}?assignment_id="
    assert link + str(p.assignment_id) in mail.text


async def test_an_overdue_questionnaire_reminds_the_client_and_tells_the_specialist(
    notify: Notify,
) -> None:
    specialist, specialist_email = await register(notify, roles=["specialist"], name="Анна")
    client, client_email = await register(notify, name="Иван Клиентов")
    env = example_envelope(
        AssignmentOverdueV1,
        client_id=client,
        specialist_id=specialist,
        questionnaire_code="phq9",
        due_at=COMPLETED,
        occurrence=2,
    )
    await notify.producer.publish(env)
    reminder = await mail_with(notify, client_email, "Напоминание: опросник PHQ-9")
    assert reminder.text is not None and "Его ещё можно заполнить" in reminder.text
    told = await mail_with(notify, specialist_email, "Клиент не заполнил")
    assert told.text is not None
    assert "Клиент Иван Клиентов не заполнил опросник PHQ-9 к сроку" in told.text
    assert f"http://127.0.0.1:8080/specialist/clients/{client}" in told.text


# -- an on-duty contact, and an alert that is late -----------------------------------------

DUTY_EMAIL = "on-duty@practice.example"
ALERT_DESK = "alerts.desk@practice.example"


@pytest.fixture(scope="module")
async def on_duty(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[tuple[Notify, int]]:
    """notify with an on-duty contact (an address and a Telegram chat), an admin alert address,
    no admin user, and a one-second deadline for an unsent alert."""
    duty_chat = new_chat_id()
    async with (
        temporary_vhost() as amqp_url,
        running_telegram() as telegram,
        running_notify(
            amqp_url=amqp_url,
            tokens=tokens,
            smtp=smtp,
            telegram=telegram,
            crisis_on_duty_email=DUTY_EMAIL,
            crisis_on_duty_telegram_chat_id=duty_chat,
            crisis_on_duty_language="en",
            crisis_on_duty_time_zone="Asia/Tokyo",
            admin_alert_email=ALERT_DESK,
            crisis_escalate_after_seconds=1.0,
        ) as n,
    ):
        await n.telegram.create_user(duty_chat, first_name="Duty", language_code="en")
        yield n, duty_chat


async def test_no_specialist_known_the_on_duty_contact_is_told(
    on_duty: tuple[Notify, int],
) -> None:
    notify, duty_chat = on_duty
    client, _ = await register(notify, name="Ольга Клиентова")
    env = crisis_run(client)
    await notify.producer.publish(env)
    mail = await mail_with(notify, DUTY_EMAIL, "Urgent")
    assert mail.text is not None
    assert "Client Ольга Клиентова marked a crisis item" in mail.text
    assert "Completed: Friday, 15 March 2030, 18:00 (Asia/Tokyo, UTC+09:00)" in mail.text
    no_health_detail(mail.text)
    (message,) = await notify.telegram.messages(duty_chat, count=1, wait=20)
    assert "Ольга Клиентова" in message["text"]
    no_health_detail(message["text"])
    rows = await settled_audit(notify, env.payload.run_id, 2, kind="alert")
    assert {(r["route"], r["recipient_user_id"], r["status"]) for r in rows} == {
        ("on_duty", None, "sent")
    }
    assert {(r["channel"], r["recipient"]) for r in rows} == {
        ("email", DUTY_EMAIL),
        ("telegram", str(duty_chat)),
    }


async def test_an_alert_not_sent_in_time_escalates_while_it_is_retried(
    on_duty: tuple[Notify, int],
) -> None:
    notify, _ = on_duty
    specialist, specialist_email = await register(notify, roles=["specialist"])
    client, _ = await register(notify)
    # the specialist's mail server defers three times (451), then takes the alert
    notify.smtp.store.add_fault(
        SmtpFault(smtp_code=451, stage="rcpt", rcpt=specialist_email, times=3)
    )
    env = crisis_run(client, assigned_by_specialist_id=specialist)
    await notify.producer.publish(env)
    escalation = await mail_with(notify, ALERT_DESK, "was not delivered")
    assert escalation.text is not None
    assert "Why: not delivered in time; still trying" in escalation.text
    await mail_with(notify, specialist_email, "Срочно")  # the fourth attempt went through
    rows = await settled_audit(notify, env.payload.run_id, 3)
    (email,) = [r for r in rows if r["kind"] == "alert" and r["channel"] == "email"]
    assert email["status"] == "sent" and email["escalated_at"] is not None
    assert "451" in email["error"]
    (desk,) = [r for r in rows if r["kind"] == "escalation"]
    assert (desk["route"], desk["recipient"], desk["escalation_of"]) == (
        "admin_address",
        ALERT_DESK,
        email["id"],
    )
    # escalated once, though the alert failed three times
    desk_mail = notify.smtp.store.messages(to=ALERT_DESK)
    assert len([m for m in desk_mail if str(env.payload.run_id) in (m.text or "")]) == 1
