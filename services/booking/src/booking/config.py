"""booking's settings."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    """Settings of the booking service."""

    service_name: str = "booking"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_booking"
