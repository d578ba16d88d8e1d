"""booking's settings (environment variables; see servicekit.settings for the common ones)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from servicekit.http.client_ip import parse_networks
from servicekit.settings import DEV_CAPABILITY_KEY, ServiceSettings

#: YooKassa's notification source addresses (integrations.md §1.6).
YOOKASSA_NOTIFICATION_SOURCES = (
    "185.71.76.0/27",
    "185.71.77.0/27",
    "77.75.153.0/25",
    "77.75.156.11",
    "77.75.156.35",
    "77.75.154.128/25",
    "2a02:5180::/32",
)


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class BookingSettings(ServiceSettings):
    """Settings of the booking service."""

    service_name: str = "booking"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_booking"

    # Seals the link to this service's part of a data export (only cabinet opens it): the same
    # keys as cabinet's; the development key is refused in production.
    capability_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEV_CAPABILITY_KEY]
    )
    data_export_link_minutes: int = Field(
        default=24 * 60, ge=1, description="How long the signed link to an export part works"
    )

    # Booking rules that are the practice's, not a service's.
    hold_minutes: int = Field(default=10, ge=1, description="How long an unpaid hold lasts")
    waitlist_offer_minutes: int = Field(default=30, ge=1)
    waitlist_parallel_offers: int = Field(
        default=3, ge=1, description="Waiting clients offered one freed slot at the same time"
    )
    idempotency_hours: int = Field(default=24, ge=1)
    max_slot_window_days: int = Field(default=62, ge=1)
    slot_cache_entries: int = Field(
        default=256,
        ge=0,
        description="Slot searches remembered per process (each checked against the "
        "database's versions before it answers); 0 remembers none",
    )
    slot_cache_max_starts: int = Field(
        default=50_000,
        ge=0,
        description="Slot starts in all remembered searches together (about 0.5 KB each "
        "with the answer's text)",
    )

    # YooKassa (the sandbox fake on a laptop; the real host in production).
    yookassa_base_url: str = "http://127.0.0.1:9001/v3"
    yookassa_shop_id: str = "sandbox-shop"
    yookassa_secret_key: str = "sandbox-secret"
    yookassa_return_url: str = Field(
        default="", description="Where the payer returns; default: /booking/paid on PUBLIC_ORIGIN"
    )
    yookassa_timeout_seconds: float = 10.0
    yookassa_max_attempts: int = Field(default=4, ge=1)
    yookassa_retry_base_seconds: float = 0.5
    yookassa_vat_code: int = Field(default=1, ge=1, le=12)
    payment_reconcile_minutes: int = Field(default=10, ge=1)
    # Where notifications may come from (the caller's address is servicekit's decision, by the
    # common TRUSTED_PROXIES setting).
    yookassa_webhook_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(YOOKASSA_NOTIFICATION_SOURCES)
    )

    @field_validator("yookassa_webhook_allowlist", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value)

    @model_validator(mode="after")
    def _return_on_the_public_origin(self) -> BookingSettings:
        self.yookassa_return_url = self.yookassa_return_url or self.public_url("/booking/paid")
        return self

    def secrets(self) -> Iterator[tuple[str, str | None, bool]]:
        """booking's secrets besides the common ones (see ServiceSettings.secrets)."""
        yield from super().secrets()
        yield "YOOKASSA_SECRET_KEY", self.yookassa_secret_key, False  # YooKassa's format

    @model_validator(mode="after")
    def _refuse_sandbox_payments_in_production(self) -> BookingSettings:
        if not self.is_development and (
            self.yookassa_secret_key == "sandbox-secret"
            or not self.yookassa_base_url.startswith("https://")
        ):
            raise ValueError("production needs real YooKassa credentials over https")
        if not self.is_development and not self.yookassa_return_url.startswith("https://"):
            raise ValueError("YOOKASSA_RETURN_URL must be https in production")
        if not self.is_development:
            private = [
                str(net)
                for net in parse_networks(self.yookassa_webhook_allowlist)
                if not net.is_global
            ]
            if private:
                # The local run allows the sandbox on the loopback; production never may.
                raise ValueError(
                    "YOOKASSA_WEBHOOK_ALLOWLIST holds non-public networks in production: "
                    + ", ".join(private)
                )
        return self
