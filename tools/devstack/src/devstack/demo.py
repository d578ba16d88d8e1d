"""``praktika-stack demo`` (``make demo``): journey 1 of issue 20 on the stack ``make run``
started, printed as a timeline.

What the client did, what each service did in answer (the events each step made flow: type,
producer, the queues that handled it, read from the services' outbox and inbox tables and the
event catalogue), which messages arrived where, and the sandbox pages to open. The steps are
devstack.journeys, the same code tests/stack/test_journeys.py runs. The demo's people have
unique addresses; what it opened to everyone (article, campaign, service, specialist) it closes
at the end.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from devstack.catalogue import documented_consumers
from devstack.journeys import JourneyFailed, Praktika, Timeline, new_client_journey, tidy_up
from devstack.layout import StackLayout


async def _up(layout: StackLayout) -> bool:
    try:
        async with httpx.AsyncClient(base_url=layout.origin, timeout=5) as gateway:
            r = await gateway.get("/api/booking/services")
    except httpx.HTTPError:
        return False
    return r.status_code == 200


async def run_demo(layout: StackLayout) -> int:
    if not await _up(layout):
        print(f"No stack answers at {layout.origin}: start it first with `make run`.")
        return 1
    began = time.monotonic()
    print(f"Praktika demo: a new client's journey through the gateway {layout.origin}")
    print("  [who] what they did;  → what they saw;  ⇢ events between the services\n")
    async with httpx.AsyncClient(base_url=layout.origin, timeout=30) as gateway:
        p = Praktika(
            layout, gateway, timeline=Timeline(out=print), catalogue=documented_consumers()
        )
        try:
            opened = await new_client_journey(p)
        except JourneyFailed as exc:
            await p.flush_events()
            print(f"\nThe journey stopped: {exc}")
            print(f"Logs: {layout.state / 'logs'}/")
            return 1
        await asyncio.sleep(1)  # the last consumers
        print("\nWhere to look (the sandbox's pages, to open in a browser; and their JSON):")
        print(f"  Telegram chats     {layout.sandbox_url('telegram')}/_sandbox/")
        print(f"    hers, as JSON    {p.telegram_page(opened.client.chat_id or 0)}")
        print(f"  the mailbox        {layout.sandbox_url('smtp-inspection')}/_sandbox/")
        print(f"    as JSON          {p.mailbox_page()}")
        print(f"  YooKassa           {layout.sandbox_url('yookassa')}/_sandbox/")
        print(f"    payments, JSON   {layout.sandbox_url('yookassa')}/_sandbox/payments")
        print(f"    notifications    {layout.sandbox_url('yookassa')}/_sandbox/notifications")
        specialist = opened.practice.specialist.id
        print(f"  specialist's page  {layout.origin}/api/content/specialists/{specialist}")
        print(f"  correlation ids    journey-{p.run}-NN in {layout.state / 'logs'}/*.log")
        flowed = len(p.events)
        producers = sorted({e.producer for e in p.events})
        print(f"\n{flowed} events flowed, published by {', '.join(producers)}.")
        print("Tidying up what others would see: " + "; ".join(await tidy_up(p, opened)))
    print(f"Done in {time.monotonic() - began:.0f} s.")
    return 0
