"""notify: consents, preferences, Telegram chats, deep links and buttons, appointments copy,
the delivery log, and a wake-up for delivery workers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.security.fields import EncryptedString

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# Delivery workers LISTEN here: a delivery timer written (or moved) wakes them at commit.
WAKE_FUNCTION = """
CREATE OR REPLACE FUNCTION notify_deliver_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('notify_deliver', ''); RETURN NULL; END $$;
"""
WAKE_TRIGGER = """
CREATE TRIGGER notify_deliver_wake AFTER INSERT OR UPDATE OF due_at ON timers
FOR EACH ROW WHEN (NEW.kind = 'deliver' AND NEW.fired_at IS NULL)
EXECUTE FUNCTION notify_deliver_wake();
"""


def upgrade() -> None:
    op.add_column(
        "recipients", sa.Column("roles", sa.JSON(), nullable=False, server_default="[]")
    )
    op.create_table(
        "consents",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(64), primary_key=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("unsubscribed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "telegram_chats",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("username", EncryptedString(), nullable=True),
        sa.Column("language_code", sa.String(16), nullable=True),
        sa.Column("linked_at", TS, nullable=True),
        sa.Column("unreachable_at", TS, nullable=True),
        sa.Column("last_sent_at", TS, nullable=True),
    )
    op.create_index("ix_telegram_chats_user_id", "telegram_chats", ["user_id"], unique=True)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("recipient", EncryptedString(), nullable=False),
        sa.Column("context", EncryptedString(), nullable=False),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("edit_message_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("source_event_id", sa.Uuid(), nullable=True),
        sa.Column("source_event_type", sa.String(128), nullable=True),
        sa.Column("fallback_of", sa.Uuid(), nullable=True),
    )
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at", "id"])
    op.create_index("ix_deliveries_user_id", "deliveries", ["user_id"])
    op.create_index("ix_deliveries_template", "deliveries", ["template"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_ref", "deliveries", ["ref"])
    op.create_table(
        "appointments",
        sa.Column("appointment_id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("facts", EncryptedString(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_appointments_client_id", "appointments", ["client_id"])
    op.create_index("ix_appointments_specialist_id", "appointments", ["specialist_id"])
    op.create_table(
        "deeplinks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("campaign", sa.String(64), nullable=True),
        sa.Column("waitlist_offer_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=True),
        sa.Column("details", EncryptedString(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("used_by_chat_id", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "telegram_buttons",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("waitlist_offer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
    )
    op.create_index("ix_telegram_buttons_delivery_id", "telegram_buttons", ["delivery_id"])
    op.create_table(
        "telegram_messages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("has_buttons", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_telegram_messages_ref", "telegram_messages", ["ref"])
    op.create_table(
        "telegram_taps",
        sa.Column("action_id", sa.Uuid(), primary_key=True),
        sa.Column("button_token", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("waitlist_offer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
    )
    op.create_index("ix_telegram_taps_button_token", "telegram_taps", ["button_token"])
    op.create_index("ix_telegram_taps_appointment_id", "telegram_taps", ["appointment_id"])
    op.create_index("ix_telegram_taps_waitlist_offer_id", "telegram_taps", ["waitlist_offer_id"])
    op.execute(WAKE_FUNCTION)
    op.execute(WAKE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS notify_deliver_wake ON timers")
    op.execute("DROP FUNCTION IF EXISTS notify_deliver_wake()")
    for table in (
        "telegram_taps",
        "telegram_messages",
        "telegram_buttons",
        "deeplinks",
        "appointments",
        "deliveries",
        "telegram_chats",
        "preferences",
        "consents",
    ):
        op.drop_table(table)
    op.drop_column("recipients", "roles")
