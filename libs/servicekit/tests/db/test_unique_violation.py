"""A unique violation is told by SQLSTATE and constraint name, through SQLAlchemy's wrapping."""

from __future__ import annotations

import pytest
from servicekit.db.engine import make_engine
from servicekit.db.faults import is_transient, is_unique_violation
from servicekit.testing import temporary_database
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError


async def test_unique_violation_by_code_and_constraint_never_transient() -> None:
    async with temporary_database("kit_unique") as url:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("CREATE TABLE t (a int CONSTRAINT t_a_key UNIQUE, b int NOT NULL)")
                )
                await conn.execute(text("INSERT INTO t VALUES (1, 1)"))
            with pytest.raises(IntegrityError) as duplicate:
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES (1, 2)"))
            with pytest.raises(IntegrityError) as missing:
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t (a) VALUES (2)"))
        finally:
            await engine.dispose()
    assert is_unique_violation(duplicate.value)
    assert is_unique_violation(duplicate.value, "t_a_key")
    assert not is_unique_violation(duplicate.value, "other_key")
    assert not is_unique_violation(missing.value)  # a NOT NULL violation is another rule
    assert not is_transient(duplicate.value)
    wrapped = ValueError("taken")
    wrapped.__cause__ = duplicate.value
    assert is_unique_violation(wrapped, "t_a_key")
