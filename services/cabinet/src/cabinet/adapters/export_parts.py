"""The HTTP client cabinet fetches the parts of a data export with: each service's signed link,
through the gateway (``PUBLIC_ORIGIN``), as a browser would."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Fetched:
    """What a part's link answered."""

    status: int
    body: bytes


async def fetch_part(url: str, *, timeout: float) -> Fetched:
    """GET a part's link (it works once)."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(url)
    return Fetched(response.status_code, response.content)
