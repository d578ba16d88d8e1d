"""notify: the crisis audit.

``crisis_runs``: one row per questionnaire run notify alerted about (a run is alerted about
once, whatever redelivers it). ``crisis_alerts``: one row per recipient and channel of each
alert and of each escalation to the admins, with what became of it and when. New tables only;
nothing existing changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.security.fields import EncryptedString

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crisis_runs",
        sa.Column("run_id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("questionnaire_code", sa.String(64), nullable=False),
        sa.Column("completed_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
    )
    op.create_index("ix_crisis_runs_client_id", "crisis_runs", ["client_id"])
    op.create_table(
        "crisis_alerts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("route", sa.String(32), nullable=False),
        sa.Column("recipient_user_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", EncryptedString(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.Column("escalated_at", TS, nullable=True),
        sa.Column("escalation_of", sa.Uuid(), nullable=True),
    )
    op.create_index("ix_crisis_alerts_created_at", "crisis_alerts", ["created_at", "id"])
    op.create_index("ix_crisis_alerts_run_id", "crisis_alerts", ["run_id"])
    op.create_index(
        "ix_crisis_alerts_delivery_id", "crisis_alerts", ["delivery_id"], unique=True
    )


def downgrade() -> None:
    op.drop_table("crisis_alerts")
    op.drop_table("crisis_runs")
