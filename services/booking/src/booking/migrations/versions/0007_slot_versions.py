"""booking: versions of what slot search reads, so a remembered search can be checked cheaply.

Every write to a service, a specialist, their overrides, time off or occupying appointments
bumps a version (the service's id, or the specialist's) in the same transaction, whoever writes
it: the ORM, raw SQL, a timer, a person at psql. Equal versions therefore mean equal rows, and
slot search may answer from what it computed before (``booking.application.slot_search``).

The bump runs at commit (a deferred constraint trigger), so a version row is locked only while
its transaction commits: a transaction waits for one only at its commit, when it waits for
nothing else, and two bookings of one specialist queue only for the moment of their commits. (A transaction that
changed several specialists would take their rows in the order it wrote them, and two such could
deadlock at commit, which PostgreSQL breaks; no path of booking's changes more than one today.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the column naming the version's key)
_KEYED = (
    ("services", "id"),
    ("specialists", "user_id"),
    ("schedule_overrides", "specialist_id"),
    ("time_off", "specialist_id"),
)
# Changes of an appointment that can change what it occupies.
_OCCUPANCY = ("status", "specialist_id", "starts_at", "occupied_from", "occupied_until")
_OCCUPANCY_CHANGED = " OR ".join(
    f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in (*_OCCUPANCY, "hold_expires_at")
)


def upgrade() -> None:
    op.create_table(
        "slot_versions",
        sa.Column("key", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION bump_slot_version() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          old_key uuid;
          new_key uuid;
        BEGIN
          IF TG_OP <> 'INSERT' THEN
            old_key := (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
          END IF;
          IF TG_OP <> 'DELETE' THEN
            new_key := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
          END IF;
          INSERT INTO slot_versions AS v (key, version)
            SELECT DISTINCT k, 1 FROM unnest(ARRAY[old_key, new_key]) AS k
            WHERE k IS NOT NULL ORDER BY k
          ON CONFLICT (key) DO UPDATE SET version = v.version + 1;
          RETURN NULL;
        END $$
        """
    )
    # TRUNCATE writes no rows to trigger on: every version moves instead.
    op.execute(
        """
        CREATE FUNCTION bump_all_slot_versions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE slot_versions SET version = version + 1;
          RETURN NULL;
        END $$
        """
    )
    for table, key in _KEYED:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER slot_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"EXECUTE FUNCTION bump_slot_version('{key}')"
        )
    op.execute(
        "CREATE CONSTRAINT TRIGGER slot_version AFTER INSERT OR DELETE ON appointments "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION bump_slot_version('specialist_id')"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER slot_version_moved AFTER UPDATE ON appointments "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"WHEN ({_OCCUPANCY_CHANGED}) "
        "EXECUTE FUNCTION bump_slot_version('specialist_id')"
    )
    for table in (*(t for t, _ in _KEYED), "appointments"):
        op.execute(
            f"CREATE TRIGGER slot_versions_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_all_slot_versions()"
        )


def downgrade() -> None:
    for table in (*(t for t, _ in _KEYED), "appointments"):
        op.execute(f"DROP TRIGGER slot_versions_truncated ON {table}")
        op.execute(f"DROP TRIGGER slot_version ON {table}")
    op.execute("DROP TRIGGER slot_version_moved ON appointments")
    op.execute("DROP FUNCTION bump_all_slot_versions()")
    op.execute("DROP FUNCTION bump_slot_version()")
    op.drop_table("slot_versions")
