"""``notify-admin``: migrate, reencrypt, dlq, asyncapi."""

from __future__ import annotations

from servicekit.cli import run_cli

from notify.bootstrap import definition
from notify.config import NotifySettings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_cli(definition, NotifySettings, argv)


if __name__ == "__main__":
    raise SystemExit(main())
