"""content: PHQ-9 and GAD-7, published as version 1 of the practice's questionnaires.

The wording (Russian and English), the scores and the published bands are in
``migrations/seeds/{phq9,gad7}.v1.json``: PHQ-9 bands 0–4 minimal, 5–9 mild, 10–14 moderate,
15–19 moderately severe, 20–27 severe, item 9 > 0 a crisis whatever the total (Kroenke et al.
2001); GAD-7 bands 0–4, 5–9, 10–14, 15–21 (Spitzer et al. 2006). Both suggest an intake session
from 10; reliable change 6 points (PHQ-9) and 4 points (GAD-7). Later wording changes are new
versions published by later revisions (or by an admin), never edits of these files.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
PUBLISHED = datetime(2026, 12, 12, tzinfo=UTC)
#: Stable ids, the same in every database (links and tests may name them).
QUESTIONNAIRES = {
    "phq9": (
        uuid.UUID("6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"),
        uuid.UUID("6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f1901"),
    ),
    "gad7": (
        uuid.UUID("6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0702"),
        uuid.UUID("6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f1702"),
    ),
}

questionnaires = sa.table(
    "questionnaires",
    sa.column("id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("owner_id", sa.Uuid()),
    sa.column("draft", JSONB()),
    sa.column("latest_version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
versions = sa.table(
    "definition_versions",
    sa.column("id", sa.Uuid()),
    sa.column("questionnaire_id", sa.Uuid()),
    sa.column("version", sa.Integer()),
    sa.column("definition", JSONB()),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("published_by", sa.Uuid()),
)


def upgrade() -> None:
    for code, (questionnaire_id, version_id) in QUESTIONNAIRES.items():
        definition = json.loads((SEEDS / f"{code}.v1.json").read_text(encoding="utf-8"))
        op.bulk_insert(
            questionnaires,
            [
                {
                    "id": questionnaire_id,
                    "code": code,
                    "owner_id": None,
                    "draft": definition,
                    "latest_version": 1,
                    "created_at": PUBLISHED,
                    "updated_at": PUBLISHED,
                }
            ],
        )
        op.bulk_insert(
            versions,
            [
                {
                    "id": version_id,
                    "questionnaire_id": questionnaire_id,
                    "version": 1,
                    "definition": definition,
                    "published_at": PUBLISHED,
                    "published_by": None,
                }
            ],
        )


def downgrade() -> None:
    ids = [q for q, _ in QUESTIONNAIRES.values()]
    op.execute(
        versions.delete().where(versions.c.questionnaire_id.in_(ids))
    )
    op.execute(questionnaires.delete().where(questionnaires.c.id.in_(ids)))
