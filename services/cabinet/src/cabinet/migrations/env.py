"""Alembic environment of cabinet (see servicekit.db.migrations)."""

from cabinet.adapters.tables import metadata
from servicekit.db.migrations import run_env

run_env(metadata)
