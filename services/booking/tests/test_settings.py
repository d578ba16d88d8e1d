"""booking's settings: production keeps YooKassa's own notification sources; the loopback that
the local run allows for the sandbox is refused there."""

from __future__ import annotations

import pytest
from booking.config import YOOKASSA_NOTIFICATION_SOURCES, BookingSettings
from cryptography.fernet import Fernet
from devstack import StackLayout
from devstack.environment import service_env
from pydantic import ValidationError

PRODUCTION = {
    "environment": "production",
    "yookassa_base_url": "https://api.yookassa.ru/v3",
    "yookassa_secret_key": "live_secret",
    "field_keys": Fernet.generate_key().decode(),
    "blind_index_key": "a-real-blind-index-key-of-32-bytes-at-least",
    "capability_keys": Fernet.generate_key().decode(),
    "public_origin": "https://praktika.example",
    "amqp_url": "amqp://praktika:" + "p" * 40 + "@rabbitmq:5672/",
}


def test_production_listens_to_yookassas_networks_only() -> None:
    settings = BookingSettings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.yookassa_webhook_allowlist == list(YOOKASSA_NOTIFICATION_SOURCES)


@pytest.mark.parametrize("allowlist", ["127.0.0.1/32", "185.71.76.0/27,10.0.0.0/8", "::1"])
def test_production_refuses_a_private_webhook_source(allowlist: str) -> None:
    with pytest.raises(ValidationError, match="non-public networks"):
        BookingSettings(**PRODUCTION, yookassa_webhook_allowlist=allowlist)  # type: ignore[arg-type]


def test_the_local_run_accepts_the_sandbox_through_its_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `make run` configures (not a test's override): the sandbox on the loopback, and
    the gateway's X-Forwarded-For believed."""
    env = service_env(StackLayout.local(), "booking")
    for name in (
        "ENVIRONMENT",
        "YOOKASSA_WEBHOOK_ALLOWLIST",
        "TRUSTED_PROXIES",
        "PUBLIC_ORIGIN",
    ):
        monkeypatch.setenv(name, env[name])
    settings = BookingSettings()
    assert settings.environment == "development"
    assert settings.yookassa_webhook_allowlist == ["127.0.0.1/32"]
    assert "127.0.0.1/32" in settings.trusted_proxies
    assert settings.yookassa_return_url == "http://127.0.0.1:8080/booking/paid"
