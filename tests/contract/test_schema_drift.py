"""Each service's models and its migrations agree: what a model declares (tables, columns,
types, nullability, indexes, unique constraints) exists as declared once the migrations ran.

The other way round is allowed: migrations also create what the ORM never reads itself
(servicekit's outbox, inbox and timers tables, exclusion constraints, partial and extra
indexes, columns only raw SQL uses), so alembic's "remove_*" findings are not drift.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from servicekit.db.engine import make_engine
from servicekit.db.migrations import upgrade
from servicekit.testing import temporary_database
from sqlalchemy import Connection

ONLY_IN_THE_DATABASE = {"remove_table", "remove_column", "remove_index", "remove_constraint"}


def _flatten(diffs: list[Any]) -> list[Any]:
    # Column changes come grouped in a list per column; everything else is one tuple.
    return [d for item in diffs for d in (item if isinstance(item, list) else [item])]


@pytest.mark.parametrize("service", ["booking", "content", "cabinet", "notify"])
async def test_models_match_the_migrated_schema(service: str) -> None:
    definition = importlib.import_module(f"{service}.bootstrap").definition
    async with temporary_database(f"drift_{service}") as url:
        await asyncio.to_thread(upgrade, definition.migrations_dir, url)
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:

                def compare(sync: Connection) -> list[Any]:
                    context = MigrationContext.configure(sync, opts={"compare_type": True})
                    return compare_metadata(context, definition.metadata)

                diffs = _flatten(await conn.run_sync(compare))
        finally:
            await engine.dispose()
    drift = [d for d in diffs if d[0] not in ONLY_IN_THE_DATABASE]
    assert drift == [], f"{service}: the models declare what the migrations do not make: {drift}"
