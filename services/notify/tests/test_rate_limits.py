"""Sending respects about one message per second per chat (Telegram's limit), so a burst to one
chat is spread out instead of drawing 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from sandbox.testing import RunningSmtpSink
from servicekit.testing import TokenMint

from .conftest import Notify, notify_under_telegram_limits
from .test_rules import appointment
from .test_telegram import linked_user

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def paced(tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    async with notify_under_telegram_limits(tokens, smtp, messages_per_second=30.0) as n:
        yield n


async def test_a_burst_to_one_chat_goes_out_one_per_second_without_429s(paced: Notify) -> None:
    notify = paced
    user_id, _, chat_id = await linked_user(notify)
    await notify.telegram.http.put(
        "/_sandbox/rate_limits", json={"per_chat_per_second": 1, "overall_per_second": 30}
    )
    for _ in range(3):
        await notify.producer.publish(
            appointment(
                AppointmentConfirmedV1,
                user_id,
                intake_required=False,
                reschedule_count=0,
                amount_paid=None,
            )
        )
    messages = await notify.telegram.messages(chat_id, count=5, wait=30)
    assert len(messages) == 5  # the two linking replies and the three
    stats = (
        await notify.telegram.http.get("/_sandbox/sends/stats", params={"method": "sendMessage"})
    ).json()
    assert stats["max_per_second_by_chat"][str(chat_id)] == 1
    sends = (await notify.telegram.http.get("/_sandbox/sends", params={"chat_id": chat_id})).json()
    assert all(s["error_code"] is None for s in sends)
    rows = await notify.rows(
        "SELECT attempts FROM deliveries WHERE user_id = $1 AND channel = 'telegram'", user_id
    )
    assert [r["attempts"] for r in rows] == [1, 1, 1, 1]  # waiting for the chat is no attempt
