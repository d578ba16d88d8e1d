"""content: questionnaires, published definition versions (immutable), runs and their answers
(health data, encrypted), assignments, and content's copies of consents and appointments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-12
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from servicekit.security.fields import EncryptedString

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> "sa.Column[datetime]":
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "questionnaires",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("draft", JSONB(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        _utc("created_at"),
        _utc("updated_at"),
        _utc("archived_at", nullable=True),
        sa.UniqueConstraint("code", name="questionnaires_code"),
    )
    op.create_index("ix_questionnaires_owner_id", "questionnaires", ["owner_id"])
    op.create_table(
        "definition_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("questionnaire_id", sa.Uuid(), sa.ForeignKey("questionnaires.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSONB(), nullable=False),
        _utc("published_at"),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.UniqueConstraint("questionnaire_id", "version", name="definition_versions_number"),
    )
    # A published version is what runs were scored by: it never changes.
    op.execute(
        """
        CREATE FUNCTION definition_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a published definition version is never changed'
                USING ERRCODE = 'restrict_violation';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER definition_versions_immutable BEFORE UPDATE ON definition_versions "
        "FOR EACH ROW EXECUTE FUNCTION definition_versions_immutable()"
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("questionnaire_id", sa.Uuid(), nullable=False),
        sa.Column(
            "version_id", sa.Uuid(), sa.ForeignKey("definition_versions.id"), nullable=False
        ),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _utc("started_at"),
        _utc("completed_at", nullable=True),
        _utc("claimed_at", nullable=True),
        sa.Column("result", EncryptedString(), nullable=True),
    )
    op.create_index("ix_runs_questionnaire_id", "runs", ["questionnaire_id"])
    op.create_index("ix_runs_user_id", "runs", ["user_id"])
    # A client's runs, newest first (their list) and by questionnaire (their trend).
    op.create_index("runs_by_user", "runs", ["user_id", "started_at", "id"])
    op.create_table(
        "run_answers",
        sa.Column(
            "run_id", sa.Uuid(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("option", EncryptedString(), nullable=False),
        _utc("answered_at"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("questionnaire_id", sa.Uuid(), nullable=False),
        sa.Column("repeat_every_days", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        _utc("due_at"),
        _utc("overdue_since", nullable=True),
        _utc("created_at"),
        _utc("last_completed_at", nullable=True),
        sa.Column("last_run_id", sa.Uuid(), nullable=True),
        _utc("cancelled_at", nullable=True),
    )
    op.create_index("ix_assignments_specialist_id", "assignments", ["specialist_id"])
    op.create_index("ix_assignments_client_id", "assignments", ["client_id"])
    op.create_table(
        "consents",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(), primary_key=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("document_version", sa.Integer(), nullable=False),
        _utc("changed_at"),
        sa.Column("consent_id", sa.Uuid(), nullable=False),
    )
    op.create_table(
        "consent_documents",
        sa.Column("document_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _utc("effective_from"),
        sa.Column("requires_reconsent", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_consent_documents_purpose", "consent_documents", ["purpose"])
    op.create_table(
        "appointments",
        sa.Column("appointment_id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        _utc("starts_at"),
        _utc("ends_at"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        _utc("changed_at"),
    )
    op.create_index("ix_appointments_client_id", "appointments", ["client_id"])
    op.create_index("ix_appointments_specialist_id", "appointments", ["specialist_id"])


def downgrade() -> None:
    for table in (
        "appointments",
        "consent_documents",
        "consents",
        "assignments",
        "run_answers",
        "runs",
    ):
        op.drop_table(table)
    op.drop_table("definition_versions")
    op.execute("DROP FUNCTION definition_versions_immutable()")
    op.drop_table("questionnaires")
