"""Alembic environment of content (see servicekit.db.migrations)."""

from content.adapters.tables import metadata
from servicekit.db.migrations import run_env

run_env(metadata)
