"""notify: a Telegram chat is linked only when the account owner confirms it.

Adds ``deeplinks.confirmed_at``: a ``link_account`` link opened by a chat now waits for its
owner's confirmation in the app. Existing rows:

- ``link_account`` links already opened linked their chat on opening: they count as confirmed
  then (``confirmed_at = used_at``).
- A chat linked by a waitlist-offer link (the old bot linked whoever opened an offer mail when
  the account had no chat: a forwarded mail took the account's Telegram over) is unlinked, its
  buttons retired and the account's unsent Telegram messages skipped; the owner links their
  chat again from the app. Such a chat is recognised by its offer link: opened by this chat, for
  this user, at the very moment the chat was linked (the old bot set both in one step).

The downgrade drops the column; unlinked chats stay unlinked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deeplinks", sa.Column("confirmed_at", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE deeplinks SET confirmed_at = used_at "
        "WHERE action = 'link_account' AND used_at IS NOT NULL"
    )
    op.execute(
        """
        WITH taken AS (
            UPDATE telegram_chats AS c SET user_id = NULL, linked_at = NULL
            FROM deeplinks AS d
            WHERE d.action = 'waitlist_offer'
              AND d.used_by_chat_ref = c.id
              AND d.user_id = c.user_id
              AND d.used_at = c.linked_at
            RETURNING c.id AS chat_ref, d.user_id AS user_id
        ), retired AS (
            UPDATE telegram_messages SET has_buttons = false
            WHERE chat_ref IN (SELECT chat_ref FROM taken)
            RETURNING 1
        )
        UPDATE deliveries
        SET status = 'skipped', last_error = 'telegram_unlinked', next_attempt_at = NULL,
            updated_at = now()
        WHERE user_id IN (SELECT user_id FROM taken)
          AND channel = 'telegram'
          AND status IN ('pending', 'retrying')
        """
    )


def downgrade() -> None:
    op.drop_column("deeplinks", "confirmed_at")
