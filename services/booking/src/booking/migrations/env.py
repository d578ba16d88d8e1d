"""Alembic environment of booking (see servicekit.db.migrations)."""

from booking.adapters.tables import metadata
from servicekit.db.migrations import run_env

run_env(metadata)
