"""The admin command line: migrate, reencrypt and asyncapi --check, as ops run them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest
from servicekit.db.engine import asyncpg_dsn
from servicekit.security.fields import Keyring
from servicekit.testing import temporary_database

NEW_KEY = "bmV3LWZpZWxkLWtleS0zMi1ieXRlcy1sb25nLi4uLi4="  # base64 of 32 bytes


def admin(service: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"{service}.entrypoints.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_then_reencrypt_every_row_under_a_new_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from servicekit.settings import DEV_BLIND_INDEX_KEY, DEV_FIELD_KEY

    async with temporary_database("cli") as url:
        env = {"DATABASE_URL": url, "ENVIRONMENT": "production"}
        monkeypatch.delenv("ENVIRONMENT", raising=False)
        # production is the default, and it refuses the development keys these rows use
        refused = await asyncio.to_thread(admin, "notify", "migrate", env={"DATABASE_URL": url})
        assert refused.returncode != 0 and "development keys" in refused.stderr
        refused = await asyncio.to_thread(admin, "notify", "migrate", env=env)
        assert refused.returncode != 0 and "development keys" in refused.stderr
        env["ENVIRONMENT"] = "development"  # asked for explicitly, as make run does
        done = await asyncio.to_thread(admin, "notify", "migrate", env=env)
        assert done.returncode == 0, done.stderr
        old = Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for i in range(3):
                await conn.execute(
                    "INSERT INTO recipients VALUES (gen_random_uuid(), $1, 'idx', $2, NULL,"
                    " 'Europe/Moscow', 'ru', now())",
                    old.encrypt(f"user{i}@example.com"),
                    old.encrypt(f"Имя {i}"),
                )
            env["FIELD_KEYS"] = f"{NEW_KEY},{DEV_FIELD_KEY}"
            done = await asyncio.to_thread(admin, "notify", "reencrypt", env=env)
            assert done.returncode == 0, done.stderr
            assert "recipients: 3 row(s) re-encrypted" in done.stdout
            new_only = Keyring([NEW_KEY], DEV_BLIND_INDEX_KEY)
            rows = await conn.fetch("SELECT email, name FROM recipients ORDER BY email")
            assert sorted(new_only.decrypt(r["email"]) for r in rows) == [
                f"user{i}@example.com" for i in range(3)
            ]
        finally:
            await conn.close()


def test_asyncapi_check_passes_on_the_committed_document() -> None:
    done = admin("booking", "asyncapi", "--check", env={})
    assert done.returncode == 0, done.stderr
    assert "is current" in done.stdout
