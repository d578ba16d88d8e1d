"""Re-encryption of every :class:`~servicekit.security.fields.EncryptedString` column.

Run after a new Fernet key was put first in ``FIELD_KEYS`` (``new,old``) and deployed; once it
reports, the old key can be removed. The walk is safe to run while the service is live and to
re-run after a failure:

* each table is read in primary-key order in batches; each batch is one transaction whose rows
  are locked ``FOR UPDATE``, so a concurrent writer waits instead of being overwritten;
* the raw ciphertext is read and written as plain text (no decrypted value ever leaves the
  transaction), re-encrypted with :meth:`MultiFernet.rotate`;
* a failure rolls back only the current batch; batches already committed stay rotated and a
  re-run skips them (rows already under the newest key are left alone unless ``force``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, and_, bindparam, inspect, select, tuple_
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import type_coerce

from servicekit.security.fields import EncryptedString, FieldDecryptionError, Keyring, get_keyring

__all__ = ["RotationError", "encrypted_columns", "reencrypt_all"]

logger = logging.getLogger("servicekit.security.rotation")


class RotationError(RuntimeError):
    """A stored value could not be re-encrypted (no configured key decrypts it).

    Carries the table and the row's primary key, never the value. Earlier batches stay
    committed; the failing batch is rolled back.
    """

    def __init__(self, table: str, primary_key: tuple[Any, ...], column: str) -> None:
        super().__init__(
            f"cannot re-encrypt {table}.{column} for primary key {primary_key!r}: "
            "no configured field key decrypts it"
        )
        self.table = table
        self.primary_key = primary_key
        self.column = column


def encrypted_columns(
    metadata: MetaData | Sequence[MetaData],
) -> list[tuple[Table, list[Column[Any]]]]:
    """Every table of ``metadata`` with its :class:`EncryptedString` columns (dependency order)."""
    metadatas = [metadata] if isinstance(metadata, MetaData) else list(metadata)
    seen: set[str] = set()
    out: list[tuple[Table, list[Column[Any]]]] = []
    for md in metadatas:
        for table in md.sorted_tables:
            if table.fullname in seen:
                continue
            cols = [c for c in table.columns if isinstance(c.type, EncryptedString)]
            if cols:
                seen.add(table.fullname)
                out.append((table, cols))
    return out


async def reencrypt_all(
    engine: AsyncEngine,
    metadata: MetaData | Sequence[MetaData],
    *,
    batch_size: int = 500,
    keyring: Keyring | None = None,
    force: bool = False,
) -> dict[str, int]:
    """Re-encrypt every ``EncryptedString`` value under the keyring's newest key.

    Returns the number of rows rewritten per table (``table.fullname``). Rows whose values are
    all NULL, or (unless ``force``) already under the newest key, are not rewritten. Tables
    absent from the database are skipped with a warning. Raises :class:`RotationError` on a
    value no key decrypts. Uses the process-wide keyring unless ``keyring`` is given.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ring = keyring or get_keyring()
    counts: dict[str, int] = {}
    for table, cols in encrypted_columns(metadata):
        async with engine.connect() as conn:
            exists = await conn.run_sync(_has_table, table)
        if not exists:
            logger.warning("re-encryption: table %s does not exist; skipped", table.fullname)
            continue
        counts[table.fullname] = await _reencrypt_table(
            engine, table, cols, ring, batch_size, force
        )
        logger.info(
            "re-encryption: %s rows rewritten in %s", counts[table.fullname], table.fullname
        )
    return counts


def _has_table(conn: Connection, table: Table) -> bool:
    return inspect(conn).has_table(table.name, schema=table.schema)


async def _reencrypt_table(
    engine: AsyncEngine,
    table: Table,
    cols: list[Column[Any]],
    ring: Keyring,
    batch_size: int,
    force: bool,
) -> int:
    pk = list(table.primary_key.columns)
    if not pk:
        raise ValueError(f"table {table.fullname} has no primary key; cannot re-encrypt it")
    raw_cols = [type_coerce(c, Text).label(f"_raw{i}") for i, c in enumerate(cols)]
    pk_cols = [c.label(f"_pk{i}") for i, c in enumerate(pk)]
    write = (
        sa_update(table)
        .where(and_(*(c == bindparam(f"_k{i}", type_=c.type) for i, c in enumerate(pk))))
        .values({c: bindparam(f"_v{i}", type_=Text) for i, c in enumerate(cols)})
    )
    rewritten = 0
    last: tuple[Any, ...] | None = None
    while True:
        query = select(*pk_cols, *raw_cols).order_by(*pk).limit(batch_size)
        if last is not None:
            if len(pk) == 1:
                query = query.where(pk[0] > last[0])
            else:
                query = query.where(tuple_(*pk) > tuple_(*last))
        query = query.with_for_update(of=table)
        async with engine.begin() as conn:  # one transaction per batch
            rows = (await conn.execute(query)).all()
            if not rows:
                break
            updates: list[dict[str, Any]] = []
            for row in rows:
                key = tuple(row[: len(pk)])
                values = list(row[len(pk) :])
                if all(v is None for v in values):
                    continue
                if not force and all(v is None or ring.is_current(v) for v in values):
                    continue
                params: dict[str, Any] = {f"_k{i}": k for i, k in enumerate(key)}
                for i, value in enumerate(values):
                    try:
                        params[f"_v{i}"] = None if value is None else ring.rotate(value)
                    except FieldDecryptionError:
                        raise RotationError(table.fullname, key, cols[i].name) from None
                updates.append(params)
            if updates:
                await conn.execute(write, updates)
                rewritten += len(updates)
            last = tuple(rows[-1][: len(pk)])
        if len(rows) < batch_size:
            break
    return rewritten
