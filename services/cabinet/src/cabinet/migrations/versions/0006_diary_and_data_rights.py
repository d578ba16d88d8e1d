"""cabinet: the client diary, the appointments copy, data exports and erasure requests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.data_rights import create_data_rights_tables, drop_data_rights_tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("erased_at", TS, nullable=True))
    op.create_table(
        "diary_entries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("shared_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "appointments",
        sa.Column("appointment_id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("legal_deadline", sa.Date(), nullable=False),
        sa.Column("final_deadline_at", TS, nullable=False),
        sa.Column("policy", postgresql.JSONB(), nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("incomplete_reason", sa.Text(), nullable=True),
        sa.Column("archive", sa.Text(), nullable=True),
        sa.Column("archive_sha256", sa.String(64), nullable=True),
        sa.Column("download_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("download_expires_at", TS, nullable=True),
        sa.Column("downloaded_at", TS, nullable=True),
    )
    op.create_table(
        "data_export_parts",
        sa.Column(
            "export_id", sa.Uuid(), sa.ForeignKey("data_exports.id"), primary_key=True
        ),
        sa.Column("service", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("download_url", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("record_counts", postgresql.JSONB(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("execute_at", TS, nullable=False),
        sa.Column("executed_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("confirmations", postgresql.JSONB(), nullable=False),
    )
    create_data_rights_tables(op)
    # The consent audit stays append-only, except for the one change an erasure makes: the
    # contact data it carried (source address, user agent) is removed, nothing else changes.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION consent_records_immutable() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND NEW.source_ip = '' AND NEW.user_agent IS NULL
               AND (NEW.id, NEW.user_id, NEW.purpose, NEW.document_id, NEW.document_version,
                    NEW.action, NEW.at)
                   IS NOT DISTINCT FROM
                   (OLD.id, OLD.user_id, OLD.purpose, OLD.document_id, OLD.document_version,
                    OLD.action, OLD.at)
            THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'consent_records is append-only';
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION consent_records_immutable() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'consent_records is append-only'; END $$
        """
    )
    drop_data_rights_tables(op)
    for table in (
        "erasure_requests",
        "data_export_parts",
        "data_exports",
        "appointments",
        "diary_entries",
    ):
        op.drop_table(table)
    op.drop_column("users", "erased_at")
