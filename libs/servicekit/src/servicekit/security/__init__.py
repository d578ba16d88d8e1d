"""Security for Praktika services: JWT verification, auth dependencies, signing, field encryption.

* :mod:`servicekit.security.jwt` — :class:`Principal`, :class:`TokenVerifier`.
* :mod:`servicekit.security.deps` — ``CurrentPrincipal``, ``require_roles``, ``ensure_owner``.
* :mod:`servicekit.security.signing` — signing keys, JWKS, access-token issuing.
* :mod:`servicekit.security.fields` — :class:`Keyring`, :class:`EncryptedString`, blind indexes.
* :mod:`servicekit.security.rotation` — ``reencrypt_all`` after a field-key rotation.
"""

from servicekit.security.deps import (
    CurrentPrincipal,
    current_principal,
    ensure_owner,
    require_roles,
)
from servicekit.security.fields import (
    EncryptedString,
    FieldDecryptionError,
    Keyring,
    KeyringNotConfiguredError,
    blind_index,
    configure_keyring,
    get_keyring,
    keyring_from_settings,
    normalize_email,
    normalize_phone,
    normalize_telegram_chat_id,
)
from servicekit.security.jwt import (
    JwksUnavailable,
    Principal,
    TokenVerifier,
    verifier_from_settings,
)
from servicekit.security.rotation import RotationError, reencrypt_all
from servicekit.security.signing import (
    generate_signing_key,
    issue_access_token,
    load_keyset,
    public_jwk,
    public_jwks,
    save_keyset,
)

__all__ = [
    "CurrentPrincipal",
    "EncryptedString",
    "FieldDecryptionError",
    "JwksUnavailable",
    "Keyring",
    "KeyringNotConfiguredError",
    "Principal",
    "RotationError",
    "TokenVerifier",
    "blind_index",
    "configure_keyring",
    "current_principal",
    "ensure_owner",
    "generate_signing_key",
    "get_keyring",
    "issue_access_token",
    "keyring_from_settings",
    "load_keyset",
    "normalize_email",
    "normalize_phone",
    "normalize_telegram_chat_id",
    "public_jwk",
    "public_jwks",
    "reencrypt_all",
    "require_roles",
    "save_keyset",
    "verifier_from_settings",
]
