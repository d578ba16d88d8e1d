"""The admin command line every service gets: ``<service>-admin <command>``.

* ``migrate [--revision head]`` — apply Alembic migrations (the one-shot deploy step);
* ``reencrypt`` — re-encrypt every encrypted column under the newest key;
* ``dlq list|replay`` — inspect and replay this service's dead letters;
* ``asyncapi [--check]`` — write (or check) the committed AsyncAPI document.

A service adds its own commands through ``extra``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from servicekit.asyncapi import render
from servicekit.db.engine import make_engine
from servicekit.db.migrations import upgrade
from servicekit.messaging.dlq import add_dlq_commands, run_dlq_command
from servicekit.messaging.dlq import depths as dlq_depths
from servicekit.runtime import ServiceDefinition
from servicekit.security.fields import configure_keyring, keyring_from_settings
from servicekit.security.rotation import reencrypt_all
from servicekit.settings import ServiceSettings

ExtraCommands = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def asyncapi_path(definition: ServiceDefinition) -> Path:
    """``services/<svc>/asyncapi.json`` (next to the service's pyproject)."""
    return definition.migrations_dir.parents[2] / "asyncapi.json"


def run_cli(
    definition: ServiceDefinition,
    settings: Callable[[], ServiceSettings],
    argv: list[str] | None = None,
    *,
    extra: ExtraCommands | None = None,
    handle_extra: Callable[[argparse.Namespace, ServiceSettings], int] | None = None,
) -> int:
    """Parse ``argv`` and run the command."""
    parser = argparse.ArgumentParser(prog=f"{definition.name}-admin")
    sub = parser.add_subparsers(dest="command", required=True)
    p_migrate = sub.add_parser("migrate", help="apply database migrations")
    p_migrate.add_argument("--revision", default="head")
    sub.add_parser("reencrypt", help="re-encrypt encrypted columns under the newest key")
    p_dlq = sub.add_parser("dlq", help="dead-letter queues")
    add_dlq_commands(p_dlq.add_subparsers(dest="dlq_command", required=True), queue_required=False)
    p_api = sub.add_parser("asyncapi", help="write or check the AsyncAPI document")
    p_api.add_argument("--check", action="store_true")
    if extra is not None:
        extra(sub)
    args = parser.parse_args(argv)
    if args.command == "asyncapi":  # describes the code: no settings (and no secrets) needed
        path = asyncapi_path(definition)
        doc = render(definition)
        if args.check:
            if not path.exists() or path.read_text() != doc:
                print(f"{path} is stale: run `{definition.name}-admin asyncapi`", file=sys.stderr)
                return 1
            print(f"{path} is current")
            return 0
        path.write_text(doc)
        print(f"wrote {path}")
        return 0
    cfg = settings()  # refuses to start on development defaults outside development

    if args.command == "migrate":
        upgrade(definition.migrations_dir, cfg.database_url, args.revision)
        print(f"{definition.name}: migrated to {args.revision}")
        return 0
    if args.command == "reencrypt":
        configure_keyring(keyring_from_settings(cfg))

        async def go() -> dict[str, int]:
            engine = make_engine(cfg.database_url, pool_size=2)
            try:
                return await reencrypt_all(engine, definition.metadata)
            finally:
                await engine.dispose()

        counts = asyncio.run(go())
        for table, n in sorted(counts.items()):
            print(f"{table}: {n} row(s) re-encrypted")
        return 0
    if args.command == "dlq":
        args.command = args.dlq_command
        if args.command == "list" and args.queue is None:
            queues = [c.queue().dlq for c in definition.consumers]
            for name, count in asyncio.run(dlq_depths(cfg.amqp_url, queues)).items():
                print(f"{name}: {count} message(s)")
            return 0
        return run_dlq_command(args, cfg.amqp_url)
    if handle_extra is not None:
        return handle_extra(args, cfg)
    parser.error(f"unknown command {args.command}")
    return 2
