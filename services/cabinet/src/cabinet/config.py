"""cabinet's settings."""

from __future__ import annotations

from servicekit.settings import ServiceSettings


class CabinetSettings(ServiceSettings):
    """Settings of the cabinet service (identity, consents, diary)."""

    service_name: str = "cabinet"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_cabinet"
    # Private signing keys (JWK JSON list, newest first). Created on first use in development.
    jwt_signing_keys_file: str = ".local/cabinet-signing-keys.json"
    access_token_ttl_seconds: int = 900
