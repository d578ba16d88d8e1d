"""``content-admin``: migrate, reencrypt, dlq, asyncapi."""

from __future__ import annotations

from servicekit.cli import run_cli

from content.bootstrap import definition
from content.config import ContentSettings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_cli(definition, ContentSettings, argv)


if __name__ == "__main__":
    raise SystemExit(main())
