"""The caller's address, honouring ``X-Forwarded-For`` only from trusted proxies.

This is the one place that decides who is calling. Rate limits (cabinet's login), allow-lists
(booking's YooKassa webhook) and records (a consent's ``source_ip``) must not trust a
client-supplied header: the forwarded chain is read right to left, skipping trusted proxies
(``TRUSTED_PROXIES``, the gateway), and the first untrusted hop is the client. uvicorn's own
proxy-header rewriting stays off (``--no-proxy-headers``), so the peer address this module sees
is the TCP peer's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """``["10.0.0.0/8", "127.0.0.1"]`` → networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The client's IP address as this service should believe it."""
    peer = request.client.host if request.client else "0.0.0.0"
    if not _trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return hops[0] if hops else peer


def caller_address(request: Request) -> str:
    """The client's IP address by the service's ``TRUSTED_PROXIES`` setting."""
    settings = request.app.state.runtime.settings
    return client_ip(request, parse_networks(settings.trusted_proxies))
