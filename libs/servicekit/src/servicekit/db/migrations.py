"""Alembic, one environment per service, run as a one-shot command or from tests.

Each service keeps its revisions in ``<service>/migrations/versions`` and a three-line
``env.py`` that calls :func:`run_env`. :func:`upgrade` runs them programmatically (the
``<service>-admin migrate`` command and test fixtures use it); it must not be called from a
running event loop, because Alembic's async environment starts its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from servicekit.db.tables import kit_metadata


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    """An in-memory Alembic config pointing at a service's migrations and database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (blocking; call outside any running loop)."""
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def downgrade(migrations_dir: Path, database_url: str, revision: str) -> None:
    """Downgrade the database to ``revision``."""
    command.downgrade(alembic_config(migrations_dir, database_url), revision)


def run_env(service_metadata: MetaData | Sequence[MetaData]) -> None:
    """Body of a service's ``env.py``: online (async) or offline migrations."""
    metas = [service_metadata] if isinstance(service_metadata, MetaData) else list(service_metadata)
    target = [kit_metadata, *metas]
    config = context.config

    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target,
            literal_binds=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
            hide_parameters=True,  # data migrations bind personal data too
        )
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
