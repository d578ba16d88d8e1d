"""notify's refusals in the user's language: Russian by default, English by ``Accept-Language``
or by the ``lang`` claim of the caller's token; ``code`` is the same in both."""

from __future__ import annotations

import uuid

from .conftest import Notify

BOOKING_LINKS = {
    "ru": ("Недостаточно прав", "Ссылки на запись создают только специалисты и администраторы."),
    "en": ("Not allowed", "Only specialists and admins create booking links."),
}


async def test_a_client_cannot_create_booking_links_in_either_language(notify: Notify) -> None:
    me = uuid.uuid4()
    cases = {
        "ru": notify.tokens.auth("client", sub=me),
        "en": {**notify.tokens.auth("client", sub=me), "Accept-Language": "en"},
        "en-by-q": {**notify.tokens.auth("client", sub=me), "Accept-Language": "ru;q=0.1, en-GB"},
        "en-by-setting": notify.tokens.auth("client", sub=me, lang="en"),
        "ru-asked": {
            **notify.tokens.auth("client", sub=me, lang="en"),
            "Accept-Language": "ru",
        },
    }
    for case, headers in cases.items():
        r = await notify.client.post(
            "/api/notify/deeplinks", json={"action": "start_booking"}, headers=headers
        )
        assert (r.status_code, r.json()["code"]) == (403, "forbidden"), case
        expected = BOOKING_LINKS["en" if case.startswith("en") else "ru"]
        assert (r.json()["title"], r.json()["detail"]) == expected, case


async def test_unknown_unsubscribe_link(notify: Notify) -> None:
    r = await notify.client.post("/api/notify/unsubscribe/not-a-token")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (r.json()["title"], r.json()["detail"]) == (
        "Не найдено",
        "Неизвестная ссылка для отписки.",
    )
    r = await notify.client.post(
        "/api/notify/unsubscribe/not-a-token", headers={"Accept-Language": "en-US"}
    )
    assert (r.json()["title"], r.json()["detail"]) == ("Not found", "Unknown unsubscribe link.")
