"""cabinet's settings."""

from __future__ import annotations

from pydantic import Field
from servicekit.settings import ServiceSettings


class CabinetSettings(ServiceSettings):
    """Settings of the cabinet service (identity, consents, diary)."""

    service_name: str = "cabinet"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_cabinet"
    # Private signing keys (JWK JSON list, newest first). Created on first use in development.
    jwt_signing_keys_file: str = ".local/cabinet-signing-keys.json"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=900)
    # A rotated-in key is published this long before it signs (> every verifier's
    # JWKS_MIN_REFRESH_SECONDS), so no verifier ever meets a kid it may not fetch yet.
    jwt_key_activation_seconds: float = 30.0
    refresh_token_ttl_days: int = 30
    # The links in emails lead to the front end on PUBLIC_ORIGIN (it reads the token from the
    # fragment).
    email_verification_ttl_hours: int = 24
    # New verification links per account and per source address within an hour.
    verification_resends_per_hour: int = Field(default=3, ge=1)
    verification_resends_per_address_per_hour: int = Field(default=20, ge=1)
    password_reset_ttl_minutes: int = 60
