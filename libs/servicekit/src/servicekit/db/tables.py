"""Tables every service has: ``outbox``, ``inbox`` and ``timers``.

They live in their own :data:`kit_metadata` (SQLAlchemy Core) so each service's Alembic
environment can target ``[kit_metadata, service_metadata]`` without the services' own tables
ever meeting in one metadata object. :func:`create_kit_tables` is called from each service's
initial migration, so the schema is defined once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection

kit_metadata = MetaData()

outbox = Table(
    "outbox",
    kit_metadata,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("routing_key", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    # The message as published (sealed); NULL once published: nothing after it needs the body.
    Column("body", JSONB, nullable=True),
    # W3C traceparent/tracestate of the span that emitted it (servicekit.tracing); NULL when
    # tracing is off. The relay publishes the message in a child span, in the AMQP headers.
    Column("trace_context", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("outbox_pending", "seq", postgresql_where=text("published_at IS NULL")),
)

inbox = Table(
    "inbox",
    kit_metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id", name="inbox_pkey"),
)

timers = Table(
    "timers",
    kit_metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("correlation_id", Text),
    # W3C traceparent/tracestate of the span that scheduled it; it fires in a child span.
    Column("trace_context", JSONB, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("fired_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    UniqueConstraint("kind", "key", name="timers_kind_key"),
    Index("timers_due", "due_at", postgresql_where=text("fired_at IS NULL")),
)

# Wakes the relay on commit. Statement-level, so a batch insert sends one notification.
OUTBOX_CHANNEL = "outbox"
_NOTIFY_FUNCTION = f"""
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL; END $$;
"""
_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
"""


def install_kit_schema(connection: Connection) -> None:
    """Create outbox, inbox and timers and the NOTIFY trigger on a (sync) connection."""
    kit_metadata.create_all(connection)
    connection.exec_driver_sql(_NOTIFY_FUNCTION)
    connection.exec_driver_sql(_NOTIFY_TRIGGER)


def create_kit_tables(op: Any) -> None:
    """Create the kit's tables from an Alembic migration (each service's first revision)."""
    install_kit_schema(op.get_bind())


def release_published_bodies(op: Any) -> None:
    """Let a published outbox row lose its body, and drop the bodies already published (the
    relay clears each at publish time from now on: docs/security.md, "Events and outboxes")."""
    op.execute("ALTER TABLE outbox ALTER COLUMN body DROP NOT NULL")
    op.execute("UPDATE outbox SET body = NULL WHERE published_at IS NOT NULL")


def keep_published_bodies(op: Any) -> None:
    """Undo :func:`release_published_bodies` (the dropped bodies stay gone: ``{}``)."""
    op.execute("UPDATE outbox SET body = '{}'::jsonb WHERE body IS NULL")
    op.execute("ALTER TABLE outbox ALTER COLUMN body SET NOT NULL")


def add_trace_context(op: Any) -> None:
    """Give outbox rows and timers the trace context they were written in (docs/observability.md):
    nullable, so existing rows and untraced writes need nothing. A database created since has
    them already (the first revision creates the kit's tables as they are now)."""
    op.execute("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS trace_context jsonb")
    op.execute("ALTER TABLE timers ADD COLUMN IF NOT EXISTS trace_context jsonb")


def drop_trace_context(op: Any) -> None:
    """Undo :func:`add_trace_context`."""
    op.execute("ALTER TABLE outbox DROP COLUMN IF EXISTS trace_context")
    op.execute("ALTER TABLE timers DROP COLUMN IF EXISTS trace_context")


def drop_kit_tables(op: Any) -> None:
    """Undo :func:`create_kit_tables`."""
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
    kit_metadata.drop_all(op.get_bind())
