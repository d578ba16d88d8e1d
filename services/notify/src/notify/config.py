"""notify's settings (environment variables; see servicekit.settings for the common ones)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from servicekit.settings import DEV_CAPABILITY_KEY, ServiceSettings

DEV_TELEGRAM_TOKEN = "1000:sandbox-token"  # the sandbox fake's default bot
DEV_WEBHOOK_SECRET = "dev-webhook-secret-do-not-use-in-prod"
DEV_LINK_KEY = "dev-notify-link-key-do-not-use-in-prod"


class NotifySettings(ServiceSettings):
    """Settings of the notify service."""

    service_name: str = "notify"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika_notify"

    # Email (the sandbox SMTP sink by default).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 9025
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="starttls: port 587 submission; tls: implicit TLS (465)"
    )
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = 30.0
    smtp_validate_certs: bool = True
    mail_from: str = "Praktika <no-reply@praktika.local>"
    mail_domain: str = Field(default="praktika.local", description="Right side of Message-IDs")
    unsubscribe_mailto: str = "unsubscribe@praktika.local"
    admin_alert_email: str | None = Field(
        default=None,
        description="Admin alerts (a refund that keeps failing) go to the users cabinet names "
        "admins; this address gets them only while notify knows no admin user. A crisis alert "
        "that could not be delivered is escalated to the admins and to this address too",
    )

    # The crisis path (docs/notify.md, "Crisis alerts"): whom a crisis answer reaches when no
    # specialist of the client is known, and how long an undelivered alert waits before the
    # admins are told. The on-duty contact is an address and/or a Telegram chat: a person's
    # private chat with the bot (its id is their Telegram user id) or a group the bot is in.
    crisis_on_duty_email: str | None = None
    crisis_on_duty_telegram_chat_id: int | None = None
    crisis_on_duty_language: Literal["ru", "en"] = "ru"
    crisis_on_duty_time_zone: str = "Europe/Moscow"
    crisis_escalate_after_seconds: float = Field(
        default=300.0,
        gt=0,
        description="An alert not sent this long after it was planned (retries still going) "
        "escalates to the admins; one that fails for good escalates at once",
    )

    # Where links in messages lead: the front end, and notify's public API (one-click
    # unsubscribe). Both default to the public origin (PUBLIC_ORIGIN, the gateway), never to
    # notify's own port; set them only where the front end lives elsewhere.
    app_base_url: str = ""
    public_api_base_url: str = ""

    # Telegram (the sandbox fake by default; https://api.telegram.org in production).
    telegram_api_base: str = "http://127.0.0.1:9002"
    telegram_bot_token: str = DEV_TELEGRAM_TOKEN
    telegram_bot_username: str = "praktika_sandbox_bot"
    telegram_webhook_url: str = ""  # default: PUBLIC_ORIGIN/api/notify/telegram/webhook
    telegram_webhook_secret: str = Field(
        default=DEV_WEBHOOK_SECRET, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$"
    )
    telegram_timeout_seconds: float = 15.0
    # Telegram allows about 30 a second per bot; 25 leaves room for the calls' jitter on their way
    # (paced at 30, and even at 28 on a busy machine, a second's window at Telegram's end now and
    # then holds 31: a 429 and a retry). Shared by every sender of every replica (telegram_pace).
    telegram_messages_per_second: float = Field(default=25.0, gt=0, description="all chats")
    telegram_chat_interval_seconds: float = Field(default=1.0, ge=0, description="per chat")

    # Keys for unsubscribe tokens (HMAC); deep-link and button tokens are random and stored.
    link_signing_key: str = Field(default=DEV_LINK_KEY, min_length=16)
    # Seals the one-time links cabinet sends through notify (servicekit.messaging.sealing): the
    # same keys in cabinet and notify, nowhere else; the development key is refused elsewhere.
    capability_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEV_CAPABILITY_KEY]
    )
    deeplink_ttl_minutes: int = Field(default=60 * 24 * 7, ge=1)
    data_export_link_minutes: int = Field(
        default=24 * 60, ge=1, description="How long the signed link to an export part works"
    )
    # How long a chat that opened a link_account link waits for the owner's confirmation.
    telegram_link_confirm_minutes: int = Field(default=30, ge=1)

    # Calendar files (docs/notify.md, "Calendar invitations"): where in-person sessions take
    # place (LOCATION of the invitation; empty: the file names no address), and how long the
    # signed add-to-calendar link in a Telegram message works after the session has ended.
    practice_address: str = Field(default="", max_length=500)
    calendar_link_days_after_end: int = Field(default=30, ge=1, le=3650)

    # Reminders before each confirmed appointment, in minutes (24 h and 1 h by default).
    reminder_offsets_minutes: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [24 * 60, 60]
    )

    # Delivery retries: exponential backoff from the first delay, capped; then give up (the
    # defaults keep trying for about a day, as RFC 5321 suggests for 4yz replies).
    delivery_max_attempts: int = Field(default=15, ge=1)
    delivery_backoff_seconds: float = Field(default=30.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=3 * 3600.0, gt=0)
    # Extra workers that send due deliveries as soon as they are written (LISTEN/NOTIFY).
    delivery_workers: int = Field(default=4, ge=0)
    # A delivery is committed as ``sending`` before the provider is called; if its outcome is
    # not written within this many seconds (the process died), the "delivery guarantees" rule
    # of docs/notify.md resolves it. Longer than any provider call (SMTP/Telegram timeouts).
    delivery_sending_lease_seconds: float = Field(default=120.0, gt=0)

    @field_validator("reminder_offsets_minutes", mode="before")
    @classmethod
    def _split_offsets(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("reminder_offsets_minutes")
    @classmethod
    def _positive_offsets(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError("reminder offsets are minutes before the start, > 0")
        return sorted(set(value), reverse=True)

    @field_validator("crisis_on_duty_email", "crisis_on_duty_telegram_chat_id", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # docker-compose passes an unset variable as an empty string
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("crisis_on_duty_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone: {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _links_on_the_public_origin(self) -> NotifySettings:
        self.app_base_url = (self.app_base_url or self.public_origin).rstrip("/")
        self.public_api_base_url = self.public_api_base_url or self.public_url("/api/notify")
        # Telegram reaches the bot through the gateway, like every other caller.
        self.telegram_webhook_url = self.telegram_webhook_url or self.public_url(
            "/api/notify/telegram/webhook"
        )
        return self

    def secrets(self) -> Iterator[tuple[str, str | None, bool]]:
        """notify's secrets besides the common ones (see ServiceSettings.secrets)."""
        yield from super().secrets()
        yield "TELEGRAM_WEBHOOK_SECRET", self.telegram_webhook_secret, True
        yield "LINK_SIGNING_KEY", self.link_signing_key, True
        yield "TELEGRAM_BOT_TOKEN", self.telegram_bot_token, False  # @BotFather's format
        yield "SMTP_PASSWORD", self.smtp_password, False  # the mail provider's

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> NotifySettings:
        if self.is_development:
            return self
        if (
            self.telegram_webhook_secret == DEV_WEBHOOK_SECRET
            or self.link_signing_key == DEV_LINK_KEY
            or self.telegram_bot_token == DEV_TELEGRAM_TOKEN
        ):
            raise ValueError("development notify secrets must not be used in production")
        links = {
            "APP_BASE_URL": self.app_base_url,
            "PUBLIC_API_BASE_URL": self.public_api_base_url,
            "TELEGRAM_WEBHOOK_URL": self.telegram_webhook_url,
        }
        plain = [name for name, url in links.items() if not url.startswith("https://")]
        if plain:
            raise ValueError(f"public URLs must be https in production: {', '.join(plain)}")
        return self
