"""notify's tables (its own metadata; never shared with another service).

Contacts, names and rendered message contexts are P2 data: encrypted at rest
(``EncryptedString``); look-ups go through blind indexes or opaque ids, never plaintext.
A Telegram chat id is a contact detail too (it reaches the person): ``telegram_chats`` keeps it
encrypted and finds a chat by its keyed blind index (:func:`chat_index`); other tables refer to
the chat row by its surrogate ``id`` and never carry the chat id.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time

from servicekit.security.fields import EncryptedString, blind_index
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    Time,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class NotifyTable(SQLModel, registry=registry()):
    """Base of notify's tables."""


metadata = NotifyTable.metadata


def chat_index(chat_id: int) -> str:
    """The keyed blind index of a Telegram chat id: how a chat is found (``chat_index``)."""
    return blind_index(str(chat_id), kind="telegram_chat")


def _ts(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class Recipient(NotifyTable, table=True):
    """notify's own copy of a user's contacts, zone, language and roles, from cabinet's events.

    Contacts are P2 data: encrypted at rest, found by the keyed blind index of the email.
    """

    __tablename__ = "recipients"

    user_id: uuid.UUID = Field(primary_key=True)
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email_index: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    time_zone: str
    language: str = Field(max_length=8)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=_ts())


class Consent(NotifyTable, table=True):
    """The latest state of one consent purpose of one user (cabinet's consent events)."""

    __tablename__ = "consents"

    user_id: uuid.UUID = Field(primary_key=True)
    purpose: str = Field(primary_key=True, max_length=64)
    granted: bool
    changed_at: datetime = Field(sa_column=_ts())


class Preference(NotifyTable, table=True):
    """How a user wants to be reached: channel order, quiet hours, one-click unsubscribe."""

    __tablename__ = "preferences"

    user_id: uuid.UUID = Field(primary_key=True)
    channels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    quiet_start: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    quiet_end: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    unsubscribed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(sa_column=_ts())


class TelegramChat(NotifyTable, table=True):
    """A private chat with the bot, linked to at most one user (and a user to one chat).

    Telegram's chat id is stored encrypted (column ``chat_id``, read as :attr:`chat_id`) and
    found by its blind index ``chat_index`` (unique); make rows with :meth:`for_chat_id`.
    """

    __tablename__ = "telegram_chats"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    chat_index: str = Field(sa_column=Column(String(64), nullable=False, unique=True, index=True))
    chat_id_text: str = Field(sa_column=Column("chat_id", EncryptedString, nullable=False))
    user_id: uuid.UUID | None = Field(default=None, unique=True, index=True)
    username: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    language_code: str | None = Field(default=None, max_length=16)
    linked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    unreachable_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))

    @classmethod
    def for_chat_id(cls, chat_id: int) -> TelegramChat:
        """A new (unsaved) row for Telegram chat ``chat_id``."""
        return cls(chat_index=chat_index(chat_id), chat_id_text=str(chat_id))

    @property
    def chat_id(self) -> int:
        """Telegram's id of the chat (decrypted), to send to it."""
        return int(self.chat_id_text)


class Delivery(NotifyTable, table=True):
    """One message to one recipient on one channel: the delivery log.

    ``context`` (encrypted JSON) is what the template renders; the message is rendered when it is
    sent, in ``language`` and ``time_zone`` (the recipient's when it was planned).
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_created_at", "created_at", "id"),)  # keyset pages

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    user_id: uuid.UUID | None = Field(default=None, index=True)
    channel: str = Field(max_length=16)
    template: str = Field(max_length=64, index=True)
    category: str = Field(max_length=16)
    language: str = Field(max_length=8)
    time_zone: str = Field(max_length=64)
    recipient: str = Field(sa_column=Column(EncryptedString, nullable=False))
    context: str = Field(sa_column=Column(EncryptedString, nullable=False))
    ref: str | None = Field(default=None, max_length=80, index=True)
    edit_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = Field(max_length=16, index=True)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    provider_message_id: str | None = Field(default=None, max_length=255)
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    source_event_id: uuid.UUID | None = None
    source_event_type: str | None = Field(default=None, max_length=128)
    fallback_of: uuid.UUID | None = None


class AppointmentCopy(NotifyTable, table=True):
    """What notify knows of an appointment (from booking's events): enough for reminders."""

    __tablename__ = "appointments"

    appointment_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    specialist_id: uuid.UUID = Field(index=True)
    status: str = Field(max_length=16)
    starts_at: datetime = Field(sa_column=_ts())
    facts: str = Field(sa_column=Column(EncryptedString, nullable=False))  # JSON, P2 names
    updated_at: datetime = Field(sa_column=_ts())


class DeepLink(NotifyTable, table=True):
    """A one-time ``/start <payload>`` token bound to an action (only its hash is stored).

    A ``link_account`` link opened by a chat (``used_at``, ``used_by_chat_ref``) links nothing
    until its owner confirms that chat in the app (``confirmed_at``).
    """

    __tablename__ = "deeplinks"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    action: str = Field(max_length=32)
    user_id: uuid.UUID | None = None
    source: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=64)
    waitlist_offer_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None
    details: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    used_by_chat_ref: uuid.UUID | None = None  # telegram_chats.id
    confirmed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Campaign (attribution) links: opened by many until revoked (migration 0008).
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    opened_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )


class TelegramButton(NotifyTable, table=True):
    """An inline button's opaque ``callback_data``, bound to one user and one target."""

    __tablename__ = "telegram_buttons"

    token: str = Field(sa_column=Column(String(64), primary_key=True))
    delivery_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID
    action: str = Field(max_length=32)
    appointment_id: uuid.UUID | None = None
    waitlist_offer_id: uuid.UUID | None = None
    created_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class TelegramMessage(NotifyTable, table=True):
    """A message the bot sent, so a later event can edit it (by ``ref`` or by a tap)."""

    __tablename__ = "telegram_messages"
    __table_args__ = (Index("ix_telegram_messages_chat_ref_message_id", "chat_ref", "message_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    chat_ref: uuid.UUID  # telegram_chats.id
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    delivery_id: uuid.UUID
    template: str = Field(max_length=64)
    ref: str | None = Field(default=None, max_length=80, index=True)
    has_buttons: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class TelegramTap(NotifyTable, table=True):
    """A tap on an inline button, published as ``notify.telegram.action_requested``."""

    __tablename__ = "telegram_taps"

    action_id: uuid.UUID = Field(primary_key=True)
    button_token: str = Field(max_length=64, index=True)
    user_id: uuid.UUID
    chat_ref: uuid.UUID  # telegram_chats.id
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(max_length=32)
    appointment_id: uuid.UUID | None = Field(default=None, index=True)
    waitlist_offer_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = Field(sa_column=_ts())
    outcome: str | None = Field(default=None, max_length=32)


class CrisisRun(NotifyTable, table=True):
    """A questionnaire run whose crisis answer notify alerted about: one row per run, so a
    redelivered event (or the same run published again) alerts nobody twice."""

    __tablename__ = "crisis_runs"

    run_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    questionnaire_code: str = Field(max_length=64)
    completed_at: datetime = Field(sa_column=_ts())
    received_at: datetime = Field(sa_column=_ts())
    route: str = Field(max_length=32)  # why its recipients were chosen (domain.crisis.Route)
    source_event_id: uuid.UUID


class CrisisAlert(NotifyTable, table=True):
    """The crisis audit: one row per recipient and channel of an alert (or of its escalation to
    the admins), with what became of it and when. Admins read it
    (``GET /api/notify/crisis-alerts``); the message itself is the ``delivery_id``'s."""

    __tablename__ = "crisis_alerts"
    __table_args__ = (Index("ix_crisis_alerts_created_at", "created_at", "id"),)  # keyset pages

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    run_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
    kind: str = Field(max_length=16)  # alert | escalation
    route: str = Field(max_length=32)
    recipient_user_id: uuid.UUID | None = None
    channel: str = Field(max_length=16)
    recipient: str = Field(sa_column=Column(EncryptedString, nullable=False))  # address, chat
    delivery_id: uuid.UUID | None = Field(default=None, unique=True, index=True)
    status: str = Field(max_length=16)  # pending | sent | failed | skipped
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    failed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    escalation_of: uuid.UUID | None = None  # the alert row whose failure this one reports


class ExportFile(NotifyTable, table=True):
    """notify's part of a user's data export, encrypted until cabinet fetches it through its
    signed link (``token_hash``: the link's SHA-256) or it expires (servicekit.data_rights)."""

    __tablename__ = "export_files"

    export_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    body: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    record_counts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False)
    )
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    downloaded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ErasedUser(NotifyTable, table=True):
    """The tombstone of an erased user: events about them arriving later change nothing, and
    nothing is sent to them."""

    __tablename__ = "erased_users"

    user_id: uuid.UUID = Field(primary_key=True)
    erasure_request_id: uuid.UUID
    erased_at: datetime = Field(sa_column=_ts())
