"""notify: Telegram chat ids encrypted at rest, found by a keyed blind index.

Before: ``telegram_chats.chat_id`` (bigint, primary key) and the plaintext copies
``telegram_messages.chat_id``, ``telegram_taps.chat_id``, ``deeplinks.used_by_chat_id``.

After: ``telegram_chats`` has a surrogate key ``id`` (uuid, primary key), ``chat_index`` (the
HMAC blind index of the chat id, unique) and ``chat_id`` (Fernet ciphertext); the other tables
refer to the chat row: ``telegram_messages.chat_ref``, ``telegram_taps.chat_ref``,
``deeplinks.used_by_chat_ref`` (uuid, ``telegram_chats.id``).

Existing rows are converted in place: every chat id is encrypted and indexed (a chat id found
only in messages, taps or deep links gets its chat row first, so nothing is lost), and the
other tables get the chat row's id. The keys are notify's own settings (``FIELD_KEYS``,
``BLIND_INDEX_KEY``: the environment the service runs with), read only when there are rows to
convert, and checked first against data the service already encrypted; a database without
chats migrates without them. The downgrade decrypts the ids back (it needs the same keys).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from servicekit.security.fields import (
    EncryptedString,
    FieldDecryptionError,
    Keyring,
    keyring_from_settings,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# Tables that carried a plaintext chat id: (table, old bigint column, new reference column).
REFERENCES = (
    ("telegram_messages", "chat_id", "chat_ref"),
    ("telegram_taps", "chat_id", "chat_ref"),
    ("deeplinks", "used_by_chat_id", "used_by_chat_ref"),
)
NOT_NULL = {"telegram_messages", "telegram_taps"}
MESSAGES_INDEX = "ix_telegram_messages_chat_ref_message_id"
CHAT_INDEX = "ix_telegram_chats_chat_index"


class KeysDoNotMatchError(RuntimeError):
    """The configured keys do not read what notify already stored (a wrong environment)."""


def service_keyring() -> Keyring:
    """notify's keyring from its settings: the same environment variables the service reads."""
    from notify.config import NotifySettings  # the service's own settings, read here only

    return keyring_from_settings(NotifySettings())


def check_keys(bind: Connection, keyring: Keyring) -> None:
    """Refuse keys that cannot read a stored recipient or chat (e.g. FIELD_KEYS missing and
    the development default used instead): the converted ids would be unreadable."""
    hint = "set FIELD_KEYS and BLIND_INDEX_KEY as the notify service has them"
    recipient = bind.execute(sa.text("SELECT email, email_index FROM recipients LIMIT 1")).first()
    username = bind.execute(
        sa.text("SELECT username FROM telegram_chats WHERE username IS NOT NULL LIMIT 1")
    ).scalar()
    try:
        email = keyring.decrypt(recipient.email) if recipient is not None else None
        if username is not None:
            keyring.decrypt(username)
    except FieldDecryptionError:
        raise KeysDoNotMatchError(f"FIELD_KEYS do not decrypt notify's data: {hint}") from None
    if recipient is not None and email is not None:
        try:
            index = keyring.blind_index(email, kind="email")
        except ValueError:
            index = None
        if index != recipient.email_index:
            raise KeysDoNotMatchError(f"BLIND_INDEX_KEY does not match notify's data: {hint}")


def _batches(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def upgrade() -> None:
    bind = op.get_bind()
    op.alter_column("telegram_chats", "chat_id", new_column_name="plain_chat_id")
    op.add_column("telegram_chats", sa.Column("id", sa.Uuid(), nullable=True))
    op.add_column("telegram_chats", sa.Column("chat_index", sa.String(64), nullable=True))
    op.add_column("telegram_chats", sa.Column("chat_id", EncryptedString(), nullable=True))

    # A chat id known only from a message, tap or deep link (no such rows are written, but
    # keep them if they exist): a chat row first, so each reference has a row to point at.
    op.execute(
        """
        INSERT INTO telegram_chats (plain_chat_id)
        SELECT chat_id FROM telegram_messages
        UNION SELECT chat_id FROM telegram_taps
        UNION SELECT used_by_chat_id FROM deeplinks WHERE used_by_chat_id IS NOT NULL
        EXCEPT SELECT plain_chat_id FROM telegram_chats
        """
    )
    plain = [r[0] for r in bind.execute(sa.text("SELECT plain_chat_id FROM telegram_chats"))]
    if plain:
        keyring = service_keyring()
        check_keys(bind, keyring)
        convert = sa.text(
            "UPDATE telegram_chats SET id = :id, chat_index = :chat_index, chat_id = :chat_id "
            "WHERE plain_chat_id = :plain"
        )
        for batch in _batches(plain):
            bind.execute(
                convert,
                [
                    {
                        "id": uuid4(),
                        "chat_index": keyring.blind_index(str(p), kind="telegram_chat"),
                        "chat_id": keyring.encrypt(str(p)),
                        "plain": p,
                    }
                    for p in batch
                ],
            )

    for table, old, new in REFERENCES:
        op.add_column(table, sa.Column(new, sa.Uuid(), nullable=True))
        op.execute(
            f"UPDATE {table} AS t SET {new} = c.id FROM telegram_chats AS c "
            f"WHERE c.plain_chat_id = t.{old}"
        )
        if table in NOT_NULL:
            op.alter_column(table, new, nullable=False)
        op.drop_column(table, old)
    op.create_index(MESSAGES_INDEX, "telegram_messages", ["chat_ref", "message_id"])

    op.drop_constraint("telegram_chats_pkey", "telegram_chats", type_="primary")
    op.drop_column("telegram_chats", "plain_chat_id")
    for column in ("id", "chat_index", "chat_id"):
        op.alter_column("telegram_chats", column, nullable=False)
    op.create_primary_key("telegram_chats_pkey", "telegram_chats", ["id"])
    op.create_index(CHAT_INDEX, "telegram_chats", ["chat_index"], unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    op.add_column("telegram_chats", sa.Column("plain_chat_id", sa.BigInteger(), nullable=True))
    rows = bind.execute(sa.text("SELECT id, chat_id FROM telegram_chats")).all()
    if rows:
        keyring = service_keyring()
        restore = sa.text("UPDATE telegram_chats SET plain_chat_id = :plain WHERE id = :id")
        for batch in _batches(rows):
            bind.execute(
                restore, [{"id": r.id, "plain": int(keyring.decrypt(r.chat_id))} for r in batch]
            )

    op.drop_index(MESSAGES_INDEX, "telegram_messages")
    for table, old, new in REFERENCES:
        op.add_column(table, sa.Column(old, sa.BigInteger(), nullable=True))
        op.execute(
            f"UPDATE {table} AS t SET {old} = c.plain_chat_id FROM telegram_chats AS c "
            f"WHERE c.id = t.{new}"
        )
        if table in NOT_NULL:
            op.alter_column(table, old, nullable=False)
        op.drop_column(table, new)

    op.drop_index(CHAT_INDEX, "telegram_chats")
    op.drop_constraint("telegram_chats_pkey", "telegram_chats", type_="primary")
    for column in ("id", "chat_index", "chat_id"):
        op.drop_column("telegram_chats", column)
    op.alter_column("telegram_chats", "plain_chat_id", new_column_name="chat_id", nullable=False)
    op.create_primary_key("telegram_chats_pkey", "telegram_chats", ["chat_id"])
