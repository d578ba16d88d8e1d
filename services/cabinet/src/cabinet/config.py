"""cabinet's settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode
from servicekit.settings import DEV_CAPABILITY_KEY, ServiceSettings


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
    # A refresh token unused this long ends its session; a session (refresh family) ends this
    # long after its login however often it is refreshed (then the user logs in again).
    refresh_token_ttl_days: int = Field(default=14, ge=1)
    session_max_days: int = Field(default=30, ge=1)
    # The links in emails lead to the front end on PUBLIC_ORIGIN (it reads the token from the
    # fragment).
    email_verification_ttl_hours: int = 24
    # New verification links per account and per source address within an hour.
    verification_resends_per_hour: int = Field(default=3, ge=1)
    verification_resends_per_address_per_hour: int = Field(default=20, ge=1)
    password_reset_ttl_minutes: int = 60
    # Registrations and reset requests per target address and per source address within an
    # hour (429 with Retry-After past them; the same for known and unknown addresses).
    registrations_per_target_per_hour: int = Field(default=5, ge=1)
    registrations_per_address_per_hour: int = Field(default=20, ge=1)
    password_resets_per_target_per_hour: int = Field(default=3, ge=1)
    password_resets_per_address_per_hour: int = Field(default=20, ge=1)
    # Seals the one-time links cabinet sends through notify (servicekit.messaging.sealing): the
    # same keys in cabinet and notify, nowhere else; the development key is refused elsewhere.
    capability_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEV_CAPABILITY_KEY]
    )

    # Data-subject requests (docs/data-rights.md).
    data_export_parts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["booking", "content", "notify"],
        description="Services that hold a part of every user's export",
    )
    data_export_reask_minutes: int = Field(
        default=15, ge=1, description="A part not in by then is asked for again (and again)"
    )
    data_export_final_hours: int = Field(
        default=72, ge=1, description="Then the export completes, marked incomplete if need be"
    )
    data_export_link_hours: int = Field(
        default=72, ge=1, description="How long the archive's single-use link works"
    )
    data_export_fetch_timeout_seconds: float = 30.0
    erasure_cooling_off_days: int = Field(
        default=7, ge=0, description="Time to change one's mind before an erasure is executed"
    )

    # CRM leads (docs/leads.md): campaign links are t.me/<this bot>?start=<token>; the same
    # bot as notify's TELEGRAM_BOT_USERNAME.
    telegram_bot_username: str = "praktika_sandbox_bot"

    @field_validator("data_export_parts", mode="before")
    @classmethod
    def _split_parts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
