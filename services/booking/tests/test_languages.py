"""booking's refusals in the user's language: Russian by default, English by ``Accept-Language``
or by the ``lang`` claim of the caller's token; ``code`` is the same in both."""

from __future__ import annotations

import uuid
from datetime import datetime

from booking.application.refusals import ACTION_RU, STATUS_RU, transition_refused_text
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
