"""The list of fakes: name, factory, loopback host, default ports, and whether it exists yet.

Port plan (all on 127.0.0.1): HTTP fakes from 9001 up — yookassa 9001, telegram 9002,
google 9003, smtp-inspection 9004 — and the SMTP listener on 9025. Each port has a name; the
runner reads an override from ``SANDBOX_<NAME>_PORT`` (upper case, ``-`` → ``_``) or
``--port NAME=PORT``. Entries without a factory only reserve their port until a later issue
implements them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sandbox.google.fake import build_google_fake
from sandbox.kit import FakeFactory
from sandbox.serving import LOOPBACK
from sandbox.smtp.fake import SMTP_PORT_NAME, build_smtp_fake
from sandbox.telegram.fake import build_telegram_fake
from sandbox.yookassa.fake import build_yookassa_fake


@dataclass(frozen=True)
class FakeSpec:
    """One fake: its HTTP app's port, any other listeners' ports, and the factory that builds it."""

    name: str
    description: str
    http_port: int
    factory: FakeFactory | None = None
    http_port_name: str | None = None
    extra_ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    host: str = LOOPBACK

    @property
    def implemented(self) -> bool:
        """Whether the fake exists (has a factory) or only reserves its port."""
        return self.factory is not None

    @property
    def ports(self) -> dict[str, int]:
        """Port name → default port; the HTTP app's port comes first."""
        return {self.http_port_name or self.name: self.http_port, **self.extra_ports}


REGISTRY: tuple[FakeSpec, ...] = (
    FakeSpec(
        "yookassa",
        "YooKassa API v3 (payments, refunds, webhooks)",
        9001,
        factory=build_yookassa_fake,
    ),
    FakeSpec(
        "telegram",
        "Telegram Bot API (/bot<token>/METHOD, webhook delivery)",
        9002,
        factory=build_telegram_fake,
    ),
    FakeSpec(
        "google",
        "Google Calendar API v3, OAuth token endpoint, watch notifications",
        9003,
        factory=build_google_fake,
    ),
    FakeSpec(
        "smtp",
        "SMTP sink (accepts every message) and its HTTP inspection API",
        9004,
        factory=build_smtp_fake,
        http_port_name="smtp-inspection",
        extra_ports=MappingProxyType({SMTP_PORT_NAME: 9025}),
    ),
)
"""Every fake, implemented or reserved, in port order."""


def implemented_fakes() -> list[FakeSpec]:
    """The fakes that can be started."""
    return [spec for spec in REGISTRY if spec.implemented]


def get_fake(name: str) -> FakeSpec:
    """A fake by name; ``KeyError`` lists the known names."""
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    raise KeyError(f"no fake {name!r}; known: {', '.join(s.name for s in REGISTRY)}")


def port_env_var(port_name: str) -> str:
    """Variable overriding a port: ``smtp-inspection`` → ``SANDBOX_SMTP_INSPECTION_PORT``."""
    return f"SANDBOX_{port_name.upper().replace('-', '_')}_PORT"
