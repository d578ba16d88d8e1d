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

    # Calendar feeds (docs/calendar-files.md): the practice's address for in-person sessions
    # (LOCATION; empty: none), and how far back a feed reaches (all future sessions are in it).
    practice_address: str = Field(default="", max_length=500)
    calendar_feed_past_days: int = Field(default=90, ge=0, le=3650)

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

    # Google Calendar (docs/google-calendar.md; the sandbox fake on a laptop).
    google_calendar_api_base: str = "http://127.0.0.1:9003/calendar/v3"
    google_token_uri: str = Field(
        default="http://127.0.0.1:9003/token",
        description="OAuth token endpoint for specialists' refresh tokens (a service-account "
        "key file names its own)",
    )
    google_revoke_uri: str = "http://127.0.0.1:9003/revoke"
    google_client_id: str = "sandbox-client.apps.googleusercontent.com"
    google_client_secret: str = "sandbox-client-secret"
    google_service_account_key: str = Field(
        default="",
        description="The practice's service-account key file (JSON text) for domain-wide "
        "delegation; empty: only specialists' own OAuth connections",
    )
    google_calendar_webhook_url: str = Field(
        default="",
        description="Where Google's watch notifications go; default: "
        "/api/booking/calendar/google/notifications on PUBLIC_ORIGIN",
    )
    # Retries inside one push or sync stay short (the timer worker runs one handler at a time);
    # longer outages are the timer worker's retries (2, 4, 8 … s, up to 10 minutes apart).
    google_calendar_timeout_seconds: float = Field(default=5.0, gt=0)
    google_calendar_max_attempts: int = Field(default=4, ge=1)
    google_calendar_retry_base_seconds: float = Field(default=0.5, ge=0)
    google_calendar_retry_max_seconds: float = Field(default=8.0, ge=0)
    calendar_poll_minutes: float = Field(
        default=15,
        gt=0,
        description="The fallback sync of every connection when no notification came",
    )
    calendar_channel_hours: float = Field(default=168, gt=0, description="Watch channel life")
    calendar_channel_renew_hours: float = Field(
        default=24, gt=0, description="A channel this close to its expiry is replaced"
    )
    calendar_push_give_up_attempts: int = Field(
        default=8, ge=1, description="Failed tries of one push before the specialist is told"
    )

    @field_validator("yookassa_webhook_allowlist", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value)

    @model_validator(mode="after")
    def _return_on_the_public_origin(self) -> BookingSettings:
        self.yookassa_return_url = self.yookassa_return_url or self.public_url("/booking/paid")
        self.google_calendar_webhook_url = self.google_calendar_webhook_url or self.public_url(
            "/api/booking/calendar/google/notifications"
        )
        return self

    def secrets(self) -> Iterator[tuple[str, str | None, bool]]:
        """booking's secrets besides the common ones (see ServiceSettings.secrets)."""
        yield from super().secrets()
        yield "YOOKASSA_SECRET_KEY", self.yookassa_secret_key, False  # YooKassa's format
        yield "GOOGLE_CLIENT_SECRET", self.google_client_secret, False  # Google's format
        yield "GOOGLE_SERVICE_ACCOUNT_KEY", self.google_service_account_key or None, False

    @model_validator(mode="after")
    def _refuse_sandbox_payments_in_production(self) -> BookingSettings:
        if not self.is_development and (
            self.yookassa_secret_key == "sandbox-secret"
            or not self.yookassa_base_url.startswith("https://")
        ):
            raise ValueError("production needs real YooKassa credentials over https")
        google = {
            "GOOGLE_CALENDAR_API_BASE": self.google_calendar_api_base,
            "GOOGLE_TOKEN_URI": self.google_token_uri,
            "GOOGLE_REVOKE_URI": self.google_revoke_uri,
            "GOOGLE_CALENDAR_WEBHOOK_URL": self.google_calendar_webhook_url,
        }
        plain = [name for name, url in google.items() if not url.startswith("https://")]
        if not self.is_development and plain:
            # The sandbox Google is for laptops and tests; Google itself only talks https.
            raise ValueError(f"{', '.join(plain)} must be https in production")
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
