"""notify.domain.linking: a chat that opened the owner's link waits for the owner to confirm it
within the window; an inline button acts only for its user, in their linked chat. Pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from notify.domain.linking import awaits_confirmation, button_works_here

OPENED = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)
CHAT = uuid.uuid4()


def waiting(**changes: Any) -> bool:
    facts: dict[str, Any] = {
        "action": "link_account",
        "used_at": OPENED,
        "used_by_chat_ref": CHAT,
        "confirmed_at": None,
        "now": OPENED + timedelta(minutes=5),
        "window": WINDOW,
    }
    return awaits_confirmation(**{**facts, **changes})


def test_an_opened_account_link_waits_within_the_window() -> None:
    assert waiting()
    assert waiting(now=OPENED + WINDOW - timedelta(seconds=1))


@pytest.mark.parametrize(
    "changes",
    [
        {"now": OPENED + WINDOW},  # the window is over
        {"used_at": None, "used_by_chat_ref": None},  # not opened
        {"used_by_chat_ref": None},
        {"confirmed_at": OPENED + timedelta(minutes=1)},  # confirmed already: once
        {"action": "waitlist_offer"},  # no other link links a chat
        {"action": "attribution"},
    ],
)
def test_nothing_else_waits_for_confirmation(changes: dict[str, Any]) -> None:
    assert not waiting(**changes)


ANNA, BORIS = uuid.uuid4(), uuid.uuid4()


def test_a_button_works_for_its_user_in_their_linked_chat() -> None:
    assert button_works_here(button_owner=ANNA, chat_owner=ANNA, pressed_in_chat=7, chat_id=7)


@pytest.mark.parametrize(
    ("chat_owner", "pressed_in_chat", "chat_id"),
    [
        (BORIS, 7, 7),  # someone else's chat, even with the exact callback data
        (None, 7, 7),  # a chat no longer linked (taken back, or never confirmed)
        (ANNA, 8, 7),  # a message from another chat
        (ANNA, None, 7),  # no message to act on
        (ANNA, 7, None),  # a chat notify does not know
    ],
)
def test_a_button_works_nowhere_else(
    chat_owner: uuid.UUID | None, pressed_in_chat: int | None, chat_id: int | None
) -> None:
    assert not button_works_here(
        button_owner=ANNA, chat_owner=chat_owner, pressed_in_chat=pressed_in_chat, chat_id=chat_id
    )
    assert not button_works_here(button_owner=None, chat_owner=None, pressed_in_chat=7, chat_id=7)
