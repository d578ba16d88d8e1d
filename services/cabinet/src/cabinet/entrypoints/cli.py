"""``cabinet-admin``: the common commands plus signing-key rotation and development tokens."""

from __future__ import annotations

import argparse
import uuid
from datetime import timedelta

from servicekit.cli import run_cli
from servicekit.security.signing import issue_access_token
from servicekit.settings import ServiceSettings

from cabinet.adapters.keys import ensure_keyset, rotate_keyset, signing_key
from cabinet.bootstrap import definition
from cabinet.config import CabinetSettings

ROLES = ("client", "specialist", "moderator", "admin")


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("issue-token", help="print an access token signed with the current key")
    p.add_argument("--role", action="append", choices=ROLES, dest="roles")
    p.add_argument("--sub", type=uuid.UUID, default=None, help="user id (random if omitted)")
    p.add_argument("--ttl", type=int, default=None, help="seconds (default: settings)")
    sub.add_parser("rotate-signing-key", help="new signing key; keep the previous one in JWKS")


def _handle(args: argparse.Namespace, cfg: ServiceSettings) -> int:
    assert isinstance(cfg, CabinetSettings)
    if args.command == "issue-token":
        key = signing_key(ensure_keyset(cfg.jwt_signing_keys_file))
        print(
            issue_access_token(
                key,
                subject=args.sub or uuid.uuid4(),
                roles=args.roles or ["client"],
                issuer=cfg.jwt_issuer,
                audience=cfg.jwt_audience,
                ttl_seconds=args.ttl or cfg.access_token_ttl_seconds,
            )
        )
        return 0
    if args.command == "rotate-signing-key":
        keys = rotate_keyset(
            cfg.jwt_signing_keys_file,
            activation=timedelta(seconds=cfg.jwt_key_activation_seconds),
        )
        print(
            f"published {keys[0]['kid']}, signing with it from {keys[0]['activates_at']}; "
            f"also serving {[k['kid'] for k in keys[1:]]}"
        )
        return 0
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_cli(definition, CabinetSettings, argv, extra=_extra, handle_extra=_handle)


if __name__ == "__main__":
    raise SystemExit(main())
