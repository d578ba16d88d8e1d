"""The keys that seal events: what :mod:`contracts.sealing` leaves to the service.

Every event a service writes to its outbox goes through :func:`contracts.envelope.to_wire` with
the runtime's :class:`EventSealer`, and every message a consumer reads through
:func:`contracts.envelope.parse_envelope` with the same, so no handler and no route ever seals
or opens anything itself:

* the **personal** part with the shared field keyring (``FIELD_KEYS``, the MultiFernet every
  service holds for its encrypted columns: newest key seals, every key opens);
* the **capability** part (one-time links) with the capability keyring (``CAPABILITY_KEYS``),
  which only the services that mint or deliver such links hold (cabinet and notify). A service
  without it cannot emit an event carrying a capability, and dead-letters one it receives.

Rules, rotation and what may travel at all: docs/security.md, "Events and outboxes".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from contracts.sealing import SealError, SealKind
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from servicekit.security.fields import Keyring, _fernet_key, get_keyring

if TYPE_CHECKING:
    from servicekit.settings import ServiceSettings

__all__ = ["EventSealer", "capability_keyring"]


def capability_keyring(keys: Sequence[str]) -> MultiFernet | None:
    """A MultiFernet of ``keys`` (newest first), or ``None`` for none."""
    if not keys:
        return None
    return MultiFernet([Fernet(_fernet_key(k, i)) for i, k in enumerate(keys)])


class EventSealer:
    """Seals and opens the sealed parts of events (a :class:`contracts.sealing.Sealer`)."""

    __slots__ = ("_capability", "_personal")

    def __init__(self, personal: Keyring | None = None, capability: MultiFernet | None = None):
        self._personal = personal
        self._capability = capability

    @classmethod
    def from_settings(cls, settings: ServiceSettings, keyring: Keyring) -> EventSealer:
        """The sealer of a service: its field keyring and its capability keys, if any."""
        return cls(keyring, capability_keyring(settings.capability_keys))

    def __repr__(self) -> str:
        return f"<EventSealer capability={'yes' if self._capability else 'no'}>"

    def _fernet(self, kind: SealKind) -> MultiFernet:
        if kind == "personal":
            return (self._personal or get_keyring()).multifernet
        if self._capability is None:
            raise SealError(
                "this service holds no capability key (CAPABILITY_KEYS): it can neither send "
                "nor read one-time links"
            )
        return self._capability

    def seal(self, kind: SealKind, plaintext: bytes) -> str:
        """Encrypt one sealed part under the newest key of its keyring."""
        return self._fernet(kind).encrypt(plaintext).decode("ascii")

    def open(self, kind: SealKind, token: str) -> bytes:
        """Decrypt one sealed part with whichever key of its keyring fits."""
        try:
            return self._fernet(kind).decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            raise SealError(f"the {kind} part opens with none of this service's keys") from None
