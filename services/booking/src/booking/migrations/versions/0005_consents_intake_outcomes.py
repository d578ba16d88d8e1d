"""booking: consents copy, consent documents, intake forms, outcome records (P2, encrypted).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.security.fields import EncryptedString

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(), primary_key=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("document_version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_id", sa.Uuid(), nullable=False),
    )
    op.create_table(
        "consent_documents",
        sa.Column("document_id", sa.Uuid(), primary_key=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requires_reconsent", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_consent_documents_purpose", "consent_documents", ["purpose"])
    op.create_table(
        "intake_forms",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("answers", EncryptedString(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "specialist_id", name="intake_forms_one_per_pair"),
    )
    op.create_index("intake_forms_specialist", "intake_forms", ["specialist_id", "submitted_at"])
    op.create_table(
        "outcome_records",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("notes", EncryptedString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    )


def downgrade() -> None:
    op.drop_table("outcome_records")
    op.drop_table("intake_forms")
    op.drop_table("consent_documents")
    op.drop_table("consents")
