"""Alembic environment of notify (see servicekit.db.migrations)."""

from notify.adapters.tables import metadata
from servicekit.db.migrations import run_env

run_env(metadata)
