"""The paid journey on the stack `make run` starts, through its gateway, as a new client walks
it: register, verify the address from the mail, book a prepaid session, pay on the sandbox's
checkout page, come back to the return page, see the booking confirmed and get the mail.

Nothing here overrides the local run's configuration: YooKassa's notifications reach booking
through the gateway and are accepted by the allow-list `make run` configures.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from servicekit.testing import wait_until

from .conftest import LocalStack

# Starting the whole stack (migrations, six processes) takes a minute on a busy 2-core machine.
pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

PASSWORD = "correct horse battery"


async def new_user(stack: LocalStack, name: str) -> tuple[str, str, dict[str, str]]:
    """Register through the gateway, verify from the mail, log in; (id, email, auth headers)."""
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    r = await stack.gateway.post(
        "/api/cabinet/registrations", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert r.status_code == 202, r.text
    link = stack.link_in(await stack.mail_to(email, "Подтвердите адрес"))
    assert link.startswith(stack.layout.origin + "/"), link  # the gateway, never a service port
    token = link.split("#token=", 1)[1]
    r = await stack.gateway.post("/api/cabinet/email-verifications", json={"token": token})
    assert r.status_code == 204, r.text
    r = await stack.gateway.post(
        "/api/cabinet/sessions", json={"email": email, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    me = {"authorization": f"Bearer {r.json()['access_token']}"}
    user_id = (await stack.gateway.get("/api/cabinet/me", headers=me)).json()["id"]
    return user_id, email, me


async def practice(stack: LocalStack) -> tuple[str, str]:
    """A prepaid service, and a registered user the admin makes its specialist."""
    admin = {"authorization": f"Bearer {stack.token('admin')}"}
    r = await stack.gateway.post(
        "/api/booking/services",
        json={
            "name": "Консультация",
            "durations_minutes": [50],
            "price": {"amount": 300000, "currency": "RUB"},
            "format": "online",
            "prepayment_required": True,
            "min_notice_minutes": 0,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    service_id = r.json()["id"]
    specialist_id, _, _ = await new_user(stack, "Анна Петрова")
    r = await stack.gateway.post(
        f"/api/cabinet/users/{specialist_id}/roles", json={"role": "specialist"}, headers=admin
    )
    assert r.status_code in (200, 204), r.text
    body = {
        "user_id": specialist_id,
        "time_zone": "Europe/Moscow",
        "weekly_hours": [{"weekday": day, "start": "00:00", "end": "23:59"} for day in range(1, 8)],
        "service_ids": [service_id],
    }

    async def created() -> bool:  # once booking has heard of the role from cabinet
        r = await stack.gateway.post("/api/booking/specialists", json=body, headers=admin)
        assert r.status_code in (201, 422), r.text
        return r.status_code == 201

    await wait_until(created, timeout=30)
    return service_id, specialist_id


async def test_a_prepaid_booking_paid_in_the_sandbox_is_confirmed(
    local_stack: LocalStack,
) -> None:
    stack = local_stack
    _, email, me = await new_user(stack, "Мария")
    service_id, specialist_id = await practice(stack)
    r = await stack.gateway.get(
        "/api/booking/slots", params={"service_id": service_id, "specialist_id": specialist_id}
    )
    assert r.status_code == 200, r.text
    starts_at = r.json()["items"][0]["starts_at"]
    r = await stack.gateway.post(
        "/api/booking/appointments",
        json={"service_id": service_id, "specialist_id": specialist_id, "starts_at": starts_at},
        headers=me,
    )
    assert r.status_code == 201, r.text
    appointment = r.json()
    assert appointment["status"] == "held"
    checkout = appointment["payment"]["confirmation_url"]

    # The client pays on the sandbox's checkout page and is sent back to the return page.
    async with stack.sandbox("yookassa") as yookassa:
        page = await yookassa.get(checkout)
        assert page.status_code == 200 and "3000.00" in page.text
        paid = await yookassa.post(checkout, data={"card_number": "5555555555554444"})
    assert paid.status_code == 303
    back = paid.headers["location"]
    assert back == f"{stack.layout.origin}/booking/paid?appointment_id={appointment['id']}"
    landing = await stack.gateway.get(back)
    assert landing.status_code == 200 and appointment["id"] in landing.text

    async def confirmed() -> bool:
        r = await stack.gateway.get(f"/api/booking/appointments/{appointment['id']}", headers=me)
        body: dict[str, Any] = r.json()
        return body["status"] == "confirmed" and body["payment"]["status"] == "succeeded"

    await wait_until(confirmed, timeout=60)
    notice = await stack.mail_to(email, "Запись подтверждена")
    assert "Оплачено: 3\N{NO-BREAK SPACE}000,00" in notice["text"].replace(
        "\N{NARROW NO-BREAK SPACE}", "\N{NO-BREAK SPACE}"
    )
    # The confirmation carries the calendar invitation (docs/calendar-files.md), and the
    # client's private calendar feed answers through the gateway with the same event.
    assert "invite.ics" in [a["filename"] for a in notice["attachments"]]
    r = await stack.gateway.post("/api/booking/me/calendar-feed", headers=me)
    assert r.status_code == 201, r.text
    feed_url = r.json()["url"]
    assert feed_url.startswith(stack.layout.origin + "/api/booking/calendar-feeds/"), feed_url
    feed = await stack.gateway.get(feed_url.removeprefix(stack.layout.origin))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert f"UID:{appointment['id']}@praktika" in feed.text
    # Every notification YooKassa sent about this payment was accepted at the first attempt:
    # none was refused (the package's stack is shared: other tests' payments are theirs).
    payment_id = checkout.rstrip("/").rsplit("/", 1)[1]
    async with stack.sandbox("yookassa") as yookassa:
        sent = [
            n
            for n in (await yookassa.get("/_sandbox/notifications")).json()
            if n["object_id"] == payment_id
        ]
    assert sent, "the sandbox sent no notification"
    assert {n["state"] for n in sent} == {"delivered"}
    assert all(len(n["attempts"]) == 1 for n in sent), sent
