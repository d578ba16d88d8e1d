"""cabinet: CRM leads (docs/leads.md): campaigns and their deep links, leads with first and
last touch, touches, status changes, notes, and clients' payments for the funnel's revenue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _touch(prefix: str) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(f"{prefix}_channel", sa.String(16), nullable=False),
        sa.Column(f"{prefix}_source", sa.String(64), nullable=True),
        sa.Column(f"{prefix}_medium", sa.String(64), nullable=True),
        sa.Column(f"{prefix}_campaign", sa.String(64), nullable=True),
        sa.Column(f"{prefix}_campaign_id", sa.Uuid(), nullable=True),
        sa.Column(f"{prefix}_at", TS, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("medium", sa.String(64), nullable=True),
        sa.Column("campaign", sa.String(64), nullable=False, unique=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=True),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_changed_at", TS, nullable=False),
        sa.Column("status_changed_by", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True, unique=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("email_index", sa.String(64), nullable=True, unique=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("telegram_index", sa.String(64), nullable=True, unique=True),
        sa.Column("telegram_username", sa.Text(), nullable=True),
        *_touch("first"),
        *_touch("last"),
        sa.Column("first_booked_at", TS, nullable=True),
        sa.Column("converted_at", TS, nullable=True),
        sa.Column("converted_appointment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "lead_touches",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), sa.ForeignKey("leads.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("medium", sa.String(64), nullable=True),
        sa.Column("campaign", sa.String(64), nullable=True),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "lead_status_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), sa.ForeignKey("leads.id"), nullable=False, index=True),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "lead_notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lead_id", sa.Uuid(), sa.ForeignKey("leads.id"), nullable=False, index=True),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "lead_money",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "lead_money",
        "lead_notes",
        "lead_status_changes",
        "lead_touches",
        "leads",
        "campaigns",
    ):
        op.drop_table(table)
