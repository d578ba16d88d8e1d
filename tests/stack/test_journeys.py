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
from devstack.journeys import (
    Practice,
    crisis_journey,
    data_rights_journey,
    new_client_journey,
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


async def test_a_new_client_from_an_article_to_a_review(local_stack: LocalStack) -> None:
    began = await local_stack.db_now()
    await new_client_journey(local_stack)
    # What flowed between the services on the way (their outbox and inbox rows): the events
    # the demo prints, each with the queues that handled it.
    flowed = {
        f"{e.event_type}.v{e.version}": set(e.consumers)
        for e in await local_stack.events_since(began)
    }
    assert {"notify.booking-events", "content.booking-events", "cabinet.leads"} <= flowed[
        "booking.appointment.confirmed.v1"
    ]
    assert "content.booking-events" in flowed["booking.appointment.completed.v1"]
    assert "cabinet.leads" in flowed["notify.deeplink.activated.v1"]


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
