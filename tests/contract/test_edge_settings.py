"""Every service reads the edge's settings from servicekit's base, with the same defaults: it
believes nobody's X-Forwarded-For until its gateway is named (TRUSTED_PROXIES), and limits the
bodies it reads."""

from __future__ import annotations

import importlib

import pytest
from servicekit.settings import ServiceSettings

from ..conftest import SERVICES, SETTINGS


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_trusts_no_proxy_by_default(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("TRUSTED_PROXIES", "MAX_REQUEST_BYTES"):
        monkeypatch.delenv(variable, raising=False)
    settings_class = getattr(importlib.import_module(f"{name}.config"), SETTINGS[name])
    settings = settings_class(environment="development")
    base = ServiceSettings(environment="development")
    assert settings.trusted_proxies == base.trusted_proxies == []
    assert settings.max_request_bytes == base.max_request_bytes
    named = settings_class(environment="development", trusted_proxies="10.0.0.0/8, ::1")
    assert named.trusted_proxies == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        settings_class(environment="development", trusted_proxies="gateway")
