"""What cabinet's use cases take from the running service, built once per runtime
(``cabinet.bootstrap.CabinetRuntime``) and passed to them by the routes: nothing of cabinet's
lives in a module's globals."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.security.fields import Keyring, keyring_from_settings

from cabinet.adapters.credentials import Passwords
from cabinet.config import CabinetSettings


@dataclass(frozen=True)
class CabinetPorts:
    """cabinet's settings, its password hashing and the keys of its blind indexes."""

    settings: CabinetSettings
    passwords: Passwords
    """argon2id in the runtime's own bounded pool of threads (closed with the runtime)."""
    keyring: Keyring
    """The keys of blind indexes: look-ups by email and phone."""


def build_ports(settings: CabinetSettings) -> CabinetPorts:
    """The ports of one runtime."""
    return CabinetPorts(settings, Passwords(), keyring_from_settings(settings))
