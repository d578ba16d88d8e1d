"""No message is sent twice at the edge: the database lost at the worst moment (the provider has
accepted the message, notify has not written it down yet) costs no second mail and no second
Telegram message; a delivery interrupted for good is resolved by its category's rule.

notify runs here on its own database behind servicekit.testing's TCP proxy; the sandbox's
accept hooks cut the proxy right after the SMTP sink or the Telegram fake accepted a message and
before notify hears the answer (the machine's PostgreSQL is never touched).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.content.v1 import InteractiveRunCompletedV1
from notify.bootstrap import definition
from sandbox.testing import RunningSmtpSink, running_smtp_sink
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import FakeClock, TcpProxy, TokenMint, migrated_database, temporary_vhost

from .conftest import Notify, running_notify, running_telegram, wait_for
from .test_recipients import register
from .test_rules import STARTS, appointment
from .test_telegram import linked_user

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

OUTAGE = 2.0  # seconds the database stays away after the provider accepted


@pytest.fixture
async def amqp_url() -> AsyncIterator[str]:
    """A vhost of these tests' own: the session's notify must not take their events."""
    async with temporary_vhost() as url:
        yield url


@contextlib.asynccontextmanager
async def notify_behind_proxy(
    amqp_url: str, tokens: TokenMint, smtp: RunningSmtpSink, **settings: Any
) -> AsyncIterator[tuple[Notify, TcpProxy, str]]:
    async with migrated_database("notify", definition.migrations_dir) as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        await proxy.start()
        try:
            async with (
                running_telegram() as telegram,
                running_notify(
                    amqp_url=amqp_url,
                    tokens=tokens,
                    smtp=smtp,
                    telegram=telegram,
                    database_url=url.replace(":5432/", f":{proxy.port}/"),
                    **settings,
                ) as n,
            ):
                yield n, proxy, url
        finally:
            await proxy.close()


async def direct_rows(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Read notify's rows past the proxy (the test sees them while notify cannot)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def sent_and_done(url: str, delivery_id: Any) -> bool:
    """The delivery is ``sent`` and nothing can send it again: no ``deliver`` timer of it is
    left unfired (a retry, or the recovery of an attempt whose outcome was never written)."""
    (row,) = await direct_rows(
        url,
        "SELECT d.status, (SELECT count(*) FROM timers t WHERE t.kind = 'deliver'"
        " AND t.fired_at IS NULL AND t.payload->>'delivery_id' = d.id::text) AS due"
        " FROM deliveries d WHERE d.id = $1",
        delivery_id,
    )
    return bool(row["status"] == "sent" and row["due"] == 0)


def outage_once(proxy: TcpProxy) -> Any:
    """An accept hook: the first time, the database goes away for OUTAGE seconds."""
    fired: list[bool] = []

    async def hook(*_: Any) -> None:
        if fired:
            return
        fired.append(True)
        await proxy.cut()
        asyncio.get_running_loop().call_later(
            OUTAGE, lambda: asyncio.ensure_future(proxy.restore())
        )

    return hook


@pytest.fixture
async def own_smtp() -> AsyncIterator[RunningSmtpSink]:
    async with running_smtp_sink() as sink:
        yield sink


async def test_mail_accepted_then_database_lost_is_sent_once_and_recorded_sent(
    amqp_url: str, tokens: TokenMint, own_smtp: RunningSmtpSink
) -> None:
    async with notify_behind_proxy(amqp_url, tokens, own_smtp) as (notify, proxy, url):
        client, email = await register(notify, language="en")
        await own_smtp.store.wait_for_messages(to=email, count=1, within=20)  # the welcome
        own_smtp.store.accept_hooks.append(outage_once(proxy))
        await notify.producer.publish(appointment(AppointmentConfirmedV1, client))

        async def confirmed() -> list[Any]:
            return [m for m in own_smtp.store.messages(to=email) if "onfirm" in (m.subject or "")]

        (mail,) = await wait_for(confirmed, timeout=30)
        rows = await wait_for(
            lambda: direct_rows(
                url,
                "SELECT id, status, provider_message_id FROM deliveries"
                " WHERE user_id = $1 AND template = 'appointment_confirmed'",
                client,
            ),
            timeout=30,
        )
        (row,) = rows
        # Its outcome written once the database is back, and nothing left that could send it
        # again (a rolled-back outcome would have left a retry): the mail went once.
        await wait_for(lambda: sent_and_done(url, row["id"]), timeout=30)
        assert len(await confirmed()) == 1
        assert mail.message_id == f"<{row['id']}@{notify.svc.runtime.settings.mail_domain}>"  # type: ignore[attr-defined]
        (final,) = await direct_rows(
            url,
            "SELECT status, attempts, provider_message_id FROM deliveries WHERE id = $1",
            row["id"],
        )
        assert (final["status"], final["attempts"]) == ("sent", 1)
        assert final["provider_message_id"] == mail.message_id


async def test_telegram_message_accepted_then_database_lost_is_sent_once(
    amqp_url: str, tokens: TokenMint, own_smtp: RunningSmtpSink
) -> None:
    async with notify_behind_proxy(amqp_url, tokens, own_smtp) as (notify, proxy, url):
        client, _email, chat_id = await linked_user(notify, language="en")
        # What linking said ("confirm the link in the app", "linked"): not the appointment's.
        before = {m["message_id"] for m in await notify.telegram.messages(chat_id)}
        notify.telegram.store.accept_hooks.append(outage_once(proxy))
        await notify.producer.publish(appointment(AppointmentConfirmedV1, client))

        async def confirmations() -> list[dict[str, Any]]:
            messages = await notify.telegram.messages(chat_id)
            return [m for m in messages if m["message_id"] not in before and "onfirm" in m["text"]]

        await wait_for(confirmations, timeout=30)
        (row,) = await direct_rows(
            url,
            "SELECT id FROM deliveries WHERE user_id = $1 AND template = 'appointment_confirmed'",
            client,
        )
        await wait_for(lambda: sent_and_done(url, row["id"]), timeout=30)
        (final,) = await direct_rows(
            url, "SELECT attempts FROM deliveries WHERE id = $1", row["id"]
        )
        assert final["attempts"] == 1
        assert len(await confirmations()) == 1
        # Its id was kept: later edits (the buttons retired) find the message.
        rows = await direct_rows(url, "SELECT count(*) AS n FROM telegram_messages")
        assert rows[0]["n"] >= 1


async def test_interrupted_sends_alert_again_but_not_a_confirmation(
    amqp_url: str, tokens: TokenMint, own_smtp: RunningSmtpSink
) -> None:
    """The sender dies between the provider's acceptance and the record: after the lease, the
    crisis alert goes again (same Message-ID), the confirmation does not (``unconfirmed``)."""
    confirmation_stuck = asyncio.Event()
    alert_stuck = asyncio.Event()
    release = asyncio.Event()
    addresses: dict[str, str] = {}

    async def hang(message: Any) -> None:
        # Only the two sends under test hang; any other mail (the specialist's own notice of
        # the booking, say) goes through, so it cannot be mistaken for one of them.
        subject = message.subject or ""
        if addresses.get("client") in message.envelope_to and "onfirm" in subject:
            confirmation_stuck.set()
        elif addresses.get("specialist") in message.envelope_to and "Urgent" in subject:
            alert_stuck.set()
        else:
            return
        await release.wait()

    # The first notify "dies" (is stopped) well within the lease; the second one starts as if
    # the lease had run out meanwhile (its clock is ahead).
    settings = {"delivery_sending_lease_seconds": 60.0}
    later = FakeClock()  # real time, shifted past the lease
    later.advance(seconds=61)
    async with migrated_database("notify", definition.migrations_dir) as url:
        async with (
            running_telegram() as telegram,
            running_notify(
                amqp_url=amqp_url,
                tokens=tokens,
                smtp=own_smtp,
                telegram=telegram,
                database_url=url,
                **settings,
            ) as first,
        ):
            specialist, specialist_email = await register(
                first, language="en", roles=["specialist"]
            )
            client, client_email = await register(first, language="en", name="Ivan")
            await own_smtp.store.wait_for_messages(to=client_email, count=1, within=20)
            await own_smtp.store.wait_for_messages(to=specialist_email, count=1, within=20)
            addresses.update(client=client_email, specialist=specialist_email)
            own_smtp.store.accept_hooks.append(hang)
            await first.producer.publish(appointment(AppointmentConfirmedV1, client))
            # accepted; notify waits for "250"
            await asyncio.wait_for(confirmation_stuck.wait(), 20)
            await first.producer.event(
                InteractiveRunCompletedV1,
                user_id=client,
                questionnaire_code="phq9",
                crisis=True,
                crisis_reasons=["phq9_item9"],
                score=21,
                band="severe",
                assigned_by_specialist_id=specialist,
                completed_at=STARTS,
            )
            await asyncio.wait_for(alert_stuck.wait(), 20)
            # notify stopped (as if killed) while both sends waited for the server's answer
        own_smtp.store.accept_hooks.remove(hang)
        release.set()
        async with (
            running_telegram() as telegram,
            running_notify(
                amqp_url=amqp_url,
                tokens=tokens,
                smtp=own_smtp,
                telegram=telegram,
                database_url=url,
                clock=later,
                **settings,
            ) as second,
        ):

            async def statuses() -> dict[str, str] | None:
                rows = await second.rows(
                    "SELECT template, status FROM deliveries"
                    " WHERE template IN ('appointment_confirmed', 'crisis_alert')"
                )
                found = {r["template"]: r["status"] for r in rows}
                settled = found.get("crisis_alert") == "sent"
                return found if settled and found.get("appointment_confirmed") else None

            found = await wait_for(statuses, timeout=30)
            assert found == {"appointment_confirmed": "unconfirmed", "crisis_alert": "sent"}
            alerts = [
                m
                for m in own_smtp.store.messages(to=specialist_email)
                if "Urgent" in (m.subject or "")
            ]
            assert len(alerts) == 2, [(m.message_id, str(m.received_at)) for m in alerts]
            assert alerts[0].message_id == alerts[1].message_id
            confirmations = [
                m for m in own_smtp.store.messages(to=client_email) if "onfirm" in (m.subject or "")
            ]
            assert len(confirmations) == 1  # at most once
