"""booking: an index for the intake rule (a client's sessions with one specialist).

The booking's context read asks whether the client already had a session with the specialist
(``intake_required_sql``). Without this index PostgreSQL ANDs the client's and the
specialist's whole histories (``appointments_client``, ``appointments_specialist``): about a
millisecond per booking with 2,500 past appointments per specialist, and growing with them
(bench/growth.py, bench/plans/booking_context.txt).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "appointments_client_specialist", "appointments", ["client_id", "specialist_id"]
    )


def downgrade() -> None:
    op.drop_index("appointments_client_specialist", table_name="appointments")
