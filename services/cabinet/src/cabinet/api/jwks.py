"""``/.well-known/jwks.json``: the public keys other services verify tokens with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cabinet.adapters.keys import ensure_keyset, published_keys
from cabinet.api.common import CabinetDep

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", summary="Public signing keys (current and previous)")
async def jwks(ports: CabinetDep, response: Response) -> dict[str, Any]:
    # Read on every request: a rotation by the admin command is served at once, no restart.
    response.headers["Cache-Control"] = "public, max-age=60"
    return published_keys(ensure_keyset(ports.settings.jwt_signing_keys_file))
