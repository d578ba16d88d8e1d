"""notify's settings (environment variables; see servicekit.settings for the common ones)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Settings of the notify service."""

    service_name: str = "notify"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_notify"
