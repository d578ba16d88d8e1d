"""Who links a Telegram chat to an account, and when: pure rules.

Only the account owner does, in two steps: the signed-in owner makes a ``link_account`` link,
a chat opens it (the link is used up and the chat waits), and the owner confirms that chat in
the app within a window. Until then the chat is not linked and gets nothing meant for the
account. No other link (a waitlist offer in a mail, a campaign link) links a chat.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

LINK_ACCOUNT = "link_account"


def awaits_confirmation(
    *,
    action: str,
    used_at: datetime | None,
    used_by_chat_ref: uuid.UUID | None,
    confirmed_at: datetime | None,
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether a link was opened by a chat that its owner may still confirm."""
    return (
        action == LINK_ACCOUNT
        and used_at is not None
        and used_by_chat_ref is not None
        and confirmed_at is None
        and now < used_at + window
    )


def button_works_here(
    *,
    button_owner: uuid.UUID | None,
    chat_owner: uuid.UUID | None,
    pressed_in_chat: int | None,
    chat_id: int | None,
) -> bool:
    """An inline button acts only for its own user, pressed in that user's linked chat: the
    chat the tap came from is linked to the button's user, and the tapped message is in it."""
    return (
        button_owner is not None
        and chat_owner == button_owner
        and chat_id is not None
        and pressed_in_chat == chat_id
    )
