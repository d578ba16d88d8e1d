"""``booking-admin``: migrate, reencrypt, dlq, asyncapi."""

from __future__ import annotations

from servicekit.cli import run_cli

from booking.bootstrap import definition
from booking.config import BookingSettings


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_cli(definition, BookingSettings, argv)


if __name__ == "__main__":
    raise SystemExit(main())
