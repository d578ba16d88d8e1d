"""Every link a user is sent is built on one setting, the public origin (the gateway), in every
service alike: no service points a user at its own port."""

from __future__ import annotations

import pytest
from booking.config import BookingSettings
from cabinet.config import CabinetSettings
from content.config import ContentSettings
from notify.config import NotifySettings
from servicekit.settings import ServiceSettings

SERVICES: list[type[ServiceSettings]] = [
    BookingSettings,
    CabinetSettings,
    ContentSettings,
    NotifySettings,
]


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local run's environment: production refuses the development keys these use."""
    monkeypatch.setenv("ENVIRONMENT", "development")


@pytest.mark.parametrize("settings", SERVICES)
def test_every_service_defaults_to_the_local_gateway(settings: type[ServiceSettings]) -> None:
    assert settings().public_origin == "http://127.0.0.1:8080"


@pytest.mark.parametrize("settings", SERVICES)
def test_public_origin_is_one_environment_variable(
    settings: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_ORIGIN", "https://praktika.example/")
    cfg = settings()
    assert cfg.public_origin == "https://praktika.example"
    assert cfg.public_url("/verify-email") == "https://praktika.example/verify-email"


def test_links_derive_from_the_public_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_ORIGIN", "https://praktika.example")
    notify = NotifySettings()
    assert notify.app_base_url == "https://praktika.example"
    assert notify.public_api_base_url == "https://praktika.example/api/notify"
    booking = BookingSettings()
    assert booking.yookassa_return_url == "https://praktika.example/booking/paid"


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://x.example", "https://x.example/app"])
def test_a_public_origin_is_scheme_and_host_only(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_ORIGIN", bad)
    with pytest.raises(ValueError, match="PUBLIC_ORIGIN"):
        CabinetSettings()
