"""Production is the default: development keys only when asked for, no placeholder or short
secret, https public URLs (issue 12, point 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from booking.config import BookingSettings
from cabinet.config import CabinetSettings
from content.config import ContentSettings
from cryptography.fernet import Fernet
from notify.config import NotifySettings
from pydantic import ValidationError
from servicekit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES: list[type[ServiceSettings]] = [
    BookingSettings,
    CabinetSettings,
    ContentSettings,
    NotifySettings,
]
LONG = "x" * 40
REAL = {
    "field_keys": Fernet.generate_key().decode(),
    "capability_keys": Fernet.generate_key().decode(),
    "blind_index_key": LONG,
    "public_origin": "https://praktika.example",
    "amqp_url": f"amqp://praktika:{LONG}@rabbitmq:5672/",
    "database_url": f"postgresql+asyncpg://svc:{LONG}@postgres:5432/svc",
    "yookassa_base_url": "https://api.yookassa.ru/v3",
    "yookassa_secret_key": "live_" + LONG,
    "google_calendar_api_base": "https://www.googleapis.com/calendar/v3",
    "google_token_uri": "https://oauth2.googleapis.com/token",
    "google_revoke_uri": "https://oauth2.googleapis.com/revoke",
    "telegram_bot_token": "123456:" + LONG,
    "telegram_webhook_secret": LONG,
    "link_signing_key": LONG,
}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)


@pytest.mark.parametrize("settings", SERVICES)
def test_unset_environment_is_production_and_refuses_development_keys(
    settings: type[ServiceSettings],
) -> None:
    with pytest.raises(ValidationError, match="development keys"):
        settings()
    assert settings(environment="development").is_development
    assert settings(**REAL).environment == "production"  # type: ignore[arg-type]


@pytest.mark.parametrize("settings", SERVICES)
def test_short_secrets_and_http_origins_are_refused_in_production(
    settings: type[ServiceSettings],
) -> None:
    with pytest.raises(ValidationError, match="BLIND_INDEX_KEY is shorter than 32 bytes"):
        settings(**{**REAL, "blind_index_key": "only-twenty-bytes-ok"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"AMQP_URL .password. is shorter"):
        settings(**{**REAL, "amqp_url": "amqp://guest:guest@rabbitmq:5672/"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="PUBLIC_ORIGIN must be https"):
        settings(**{**REAL, "public_origin": "http://praktika.example"})  # type: ignore[arg-type]


def test_a_short_notify_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET is shorter"):
        NotifySettings(**{**REAL, "telegram_webhook_secret": "short-secret"})  # type: ignore[arg-type]


@pytest.mark.parametrize("settings", SERVICES)
def test_deploy_env_example_placeholders_are_refused_at_start(
    settings: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-compose passes deploy/.env.example's values through: nothing starts with them."""
    env = {}
    for line in (ROOT / "deploy" / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            env[name] = value
    monkeypatch.setenv("ENVIRONMENT", env["ENVIRONMENT"])
    monkeypatch.setenv("PUBLIC_ORIGIN", env["PUBLIC_BASE_URL"])
    for name in (
        "FIELD_KEYS",
        "BLIND_INDEX_KEY",
        "YOOKASSA_SECRET_KEY",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "LINK_SIGNING_KEY",
    ):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+asyncpg://svc:{env['CABINET_DB_PASSWORD']}@postgres/svc"
    )
    with pytest.raises(ValidationError, match=r"CHANGE_ME|Fernet"):
        settings()
    # even a development run refuses a placeholder
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("FIELD_KEYS", Fernet.generate_key().decode())
    with pytest.raises(ValidationError, match="CHANGE_ME"):
        settings()
