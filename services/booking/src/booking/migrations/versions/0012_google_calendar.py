"""booking: Google Calendar connections, the events of appointments, imported busy time.

``calendar_busy`` bumps the specialist's slot version like time off does (migration 0007), so a
remembered slot search never outlives an imported event.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.security.fields import EncryptedString

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_connections",
        sa.Column("specialist_id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("calendar_id", sa.String(), nullable=False),
        sa.Column("credentials", EncryptedString(), nullable=False),
        sa.Column("client_label", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_token", sa.String(), nullable=True),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("channel_token", EncryptedString(), nullable=True),
        sa.Column("channel_resource_id", sa.String(), nullable=True),
        sa.Column("channel_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_round", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_calendar_connections_channel_id", "calendar_connections", ["channel_id"]
    )
    op.create_table(
        "calendar_events",
        sa.Column("appointment_id", sa.Uuid(), primary_key=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("pushed_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pushed_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_calendar_events_specialist_id", "calendar_events", ["specialist_id"])
    op.create_table(
        "calendar_busy",
        sa.Column("specialist_id", sa.Uuid(), primary_key=True),
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER slot_version AFTER INSERT OR UPDATE OR DELETE ON calendar_busy "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION bump_slot_version('specialist_id')"
    )
    op.execute(
        "CREATE TRIGGER slot_versions_truncated AFTER TRUNCATE ON calendar_busy "
        "FOR EACH STATEMENT EXECUTE FUNCTION bump_all_slot_versions()"
    )


def downgrade() -> None:
    op.drop_table("calendar_busy")
    op.drop_table("calendar_events")
    op.drop_table("calendar_connections")
