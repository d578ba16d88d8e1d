"""Journeys of real people (issue 20), on the stack `make run` starts, through its nginx gateway
and the sandbox fakes, each step checking what the person would see. The steps are
devstack.journeys: the same code ``make demo`` walks against the local run.

1. A new client finds an article, takes PHQ-9 anonymously, starts the bot from the practice's
   campaign link, registers with the campaign's UTM, verifies, links Telegram, consents, keeps
   her PHQ-9, books a prepaid session and pays on the sandbox's checkout page, gets the
   confirmation (mail with invite.ics, Telegram) and both reminders in Telegram, taps «Приду»;
   the specialist holds the session and writes the outcome record; she reviews, a moderator
   approves and the review is on the specialist's page; the practice sees her lead.
2. A second client waits for a time and is offered it when the first client reschedules; a
   third client's crisis answer (PHQ-9 item 9) reaches the specialist by mail.
3. A client exports all his data (mailed single-use link, one part per service) and erases
   the account.

Real time and real processes: a reminder due 24 h before a session, a session in the past and
an erasure's 7-day cooling-off are reached by an operator's edit of one row (module docstring
of devstack.journeys), never by another configuration than the local run's.
"""

from __future__ import annotations

import pytest
from devstack.demo import run_demo
from devstack.journeys import (
    Practice,
    crisis_journey,
    data_rights_journey,
    open_practice,
    waitlist_journey,
)

from .conftest import LocalStack

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.slow,
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
async def practice(local_stack: LocalStack) -> Practice:
    return await open_practice(local_stack)


async def test_a_new_client_from_an_article_to_a_review_as_make_demo_prints_it(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Journey 1 is what ``make demo`` runs: here the demo itself, against this stack."""
    code = await run_demo(local_stack.layout)
    timeline = capsys.readouterr().out
    assert code == 0, timeline
    # What she saw, and what flowed between the services on the way (outbox and inbox rows).
    for seen in (
        "search «сон» finds",
        "the bot greets Мария",
        "Telegram: «Запись подтверждена»",
        "Telegram: «Напоминание о встрече» with buttons ['Приду', 'Отменить запись']",
        "booking: attendance confirmed",
        "page shows 1 review, 5.0",
        "lead from «tg-",
        "Tidying up what others would see: article archived (200); campaign revoked (200); "
        "service inactive (200); specialist inactive (200)",
    ):
        assert seen in timeline, (seen, timeline)
    # (a queue named "still on its way to" had not handled it when the step ended)
    flowed = {
        line.split("⇢ event ", 1)[1].split(" ", 1)[0]: line
        for line in timeline.splitlines()
        if "⇢ event " in line
    }
    for event, producer, queues in (
        ("notify.deeplink.activated.v1", "notify", ["cabinet.leads"]),
        ("booking.appointment.confirmed.v1", "booking", ["notify.booking-events", "cabinet.leads"]),
        ("booking.appointment.completed.v1", "booking", ["content.booking-events"]),
        ("content.moderation.decided.v1", "content", ["notify.content-events"]),
    ):
        assert f"from {producer}:" in flowed[event], flowed[event]
        assert all(queue in flowed[event] for queue in queues), flowed[event]


async def test_a_freed_slot_goes_to_the_waiting_client(
    local_stack: LocalStack, practice: Practice
) -> None:
    await waitlist_journey(local_stack, practice)


async def test_a_crisis_answer_reaches_the_specialist(
    local_stack: LocalStack, practice: Practice
) -> None:
    await crisis_journey(local_stack, practice)


async def test_a_client_exports_everything_then_is_erased(
    local_stack: LocalStack, practice: Practice
) -> None:
    await data_rights_journey(local_stack, practice)


async def test_every_payment_notification_of_the_journeys_was_accepted(
    local_stack: LocalStack,
) -> None:
    """YooKassa's notifications reached booking through the gateway and none was refused."""
    async with local_stack.sandbox("yookassa") as yookassa:
        sent = (await yookassa.get("/_sandbox/notifications")).json()
    assert sent
    assert {n["state"] for n in sent} == {"delivered"}, sent
    answers = [(n["event"], a.get("status_code")) for n in sent for a in n["attempts"]]
    refused = [a for a in answers if a[1] is not None and a[1] != 200]
    assert refused == [], answers
