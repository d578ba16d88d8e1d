"""cabinet's runtime: servicekit's (database, outbox relay, timers, token verifier) and the parts
cabinet's use cases take, built once per process by ``cabinet.bootstrap.build_runtime``.

Nothing of cabinet's lives in a module's globals: the password-hashing pool, the keys blind
indexes are made with and the typed settings are here, passed to the use cases by the routes
(``cabinet.api.common.CabinetDep``), and closed with the runtime.
"""

from __future__ import annotations

from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.security.fields import Keyring, keyring_from_settings

from cabinet.adapters.credentials import Passwords
from cabinet.config import CabinetSettings


class CabinetRuntime(ServiceRuntime):
    """A running cabinet."""

    settings: CabinetSettings
    keyring: Keyring
    """The keys of blind indexes (look-ups by email and phone)."""
    passwords: Passwords
    """Password hashing in its own bounded pool of threads."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: CabinetSettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        super().__init__(definition, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.settings = settings
        self.keyring = keyring_from_settings(settings)
        self.passwords = Passwords()

    async def stop(self) -> None:
        """Stop servicekit's parts, then the hashing threads."""
        try:
            await super().stop()
        finally:
            self.passwords.close()
