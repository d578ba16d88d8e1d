"""notify: one Telegram pace for every sender of every replica (``telegram_pace``).

Telegram allows about 30 messages a second per bot, whichever process sends them. Each send
reserves the next free moment in this one-row table (docs/notify.md, "Delivery guarantees"), so
two replicas on one database keep the bot's pace together.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telegram_pace",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("next_free", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="telegram_pace_one_row"),
    )
    op.execute("INSERT INTO telegram_pace (id, next_free) VALUES (1, '-infinity')")


def downgrade() -> None:
    op.drop_table("telegram_pace")
