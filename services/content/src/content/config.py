"""content's settings."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    """Settings of the content service."""

    service_name: str = "content"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_content"
