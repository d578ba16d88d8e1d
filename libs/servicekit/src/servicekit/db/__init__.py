"""Database plumbing: async engine and sessions, the kit's own tables, Alembic helpers."""
