"""booking's refusals in the user's language: Russian by default, English by ``Accept-Language``
or by the ``lang`` claim of the caller's token; ``code`` is the same in both."""

from __future__ import annotations

import uuid
from datetime import datetime

from booking.api.errors import ACTION_RU, STATUS_RU, transition_refused_text
from booking.domain.appointments import Action, InvalidTransition, Status

from .conftest import Booking

TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK

SLOT_TAKEN = {
    "ru": ("Время недоступно", "Это время уже занято."),
    "en": ("Slot unavailable", "This time is already taken."),
}


async def test_slot_taken_in_both_languages(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    assert (await booking.book(service, specialist, TEN)).status_code == 201

    asked = {"default": None, "en": "en-US", "q": "ru;q=0.2, en", "ru": "en;q=0.5, ru"}
    answers = {
        case: await booking.book(
            service, specialist, TEN, headers={"Accept-Language": header} if header else None
        )
        for case, header in asked.items()
    }
    for r in answers.values():
        assert r.status_code == 409
        assert (r.json()["code"], r.json()["status"]) == ("slot_taken", 409)
    texts = {k: (r.json()["title"], r.json()["detail"]) for k, r in answers.items()}
    assert texts == {
        "default": SLOT_TAKEN["ru"],
        "en": SLOT_TAKEN["en"],
        "q": SLOT_TAKEN["en"],
        "ru": SLOT_TAKEN["ru"],
    }


async def test_a_refused_transition_in_the_users_language(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    me = uuid.uuid4()
    booked = await booking.book(service, specialist, TEN, client_id=me)
    assert booked.status_code == 201, booked.text
    url = f"/api/booking/appointments/{booked.json()['id']}/cancel"
    assert (
        await booking.client.post(url, json={}, headers=booking.auth("client", sub=me))
    ).status_code == 200

    russian = await booking.client.post(url, json={}, headers=booking.auth("client", sub=me))
    english_user = booking.tokens.auth("client", sub=me, lang="en")
    english = await booking.client.post(url, json={}, headers=english_user)
    asked_russian = await booking.client.post(
        url, json={}, headers={**english_user, "Accept-Language": "ru-RU"}
    )
    for r in (russian, english, asked_russian):
        assert (r.status_code, r.json()["code"]) == (409, "invalid_transition")
    assert (russian.json()["title"], russian.json()["detail"]) == (
        "Сейчас это невозможно",
        "Запись отменена: отменить её нельзя.",
    )
    assert (english.json()["title"], english.json()["detail"]) == (
        "Not possible now",
        "cannot cancel an appointment that is cancelled",
    )
    assert asked_russian.json()["detail"] == russian.json()["detail"]


def test_every_action_and_status_has_russian_words() -> None:
    assert set(ACTION_RU) == set(Action)
    assert set(STATUS_RU) == set(Status)
    for action in Action:
        for status in Status:
            text = transition_refused_text(InvalidTransition(action, status))
            assert text.ru.startswith("Запись ") and text.ru.endswith(" нельзя.")
            assert text.en == f"cannot {action.value} an appointment that is {status.value}"


async def test_field_errors_booking_writes_itself_follow_the_language(
    booking: Booking, now: datetime
) -> None:
    """Rules pydantic cannot see (a window's order, a service's durations) in both languages."""
    service, specialist = await booking.practice()
    query = {
        "service_id": service["id"],
        "specialist_id": specialist["user_id"],
        "from": "2026-03-18T07:00:00Z",
        "to": "2026-03-17T07:00:00Z",
    }
    texts = {}
    for lang in ("ru", "en"):
        r = await booking.client.get(
            "/api/booking/slots", params=query, headers={"Accept-Language": lang}
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_failed"
        (error,) = r.json()["errors"]
        assert error["loc"] == ["query", "to"]
        texts[lang] = error["msg"]
    assert texts == {"ru": "Конец должен быть позже начала.", "en": "must be after from"}
    client = await booking.register_client()
    r = await booking.client.post(
        "/api/booking/waitlist",
        json={
            "service_id": service["id"],
            "windows": [{"from": "2026-03-17T05:00:00Z", "to": "2026-03-17T15:00:00Z"}],
            "duration_minutes": 90,
        },
        headers={**booking.auth("client", sub=client), "Accept-Language": "ru"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["msg"] == "продолжительность этой услуги в минутах: 50"
