"""Use cases raise domain errors; the app's ProblemMap says once how each reads over HTTP."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from servicekit.errors import DomainError, ErrorTable
from servicekit.http.problems import Msg, ProblemMap, install_problem_handlers


class SlotTaken(DomainError):
    code = "slot_taken"


class TooLate(DomainError):
    code = "too_late"

    def __init__(self, minutes: int) -> None:
        super().__init__(f"{minutes} minutes too late")
        self.minutes = minutes


class WayTooLate(TooLate):
    code = "way_too_late"


class Unmapped(DomainError):
    code = "unmapped"


class Busy(DomainError):
    code = "busy"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class NoEntry(DomainError):
    code = "no_entry"


def make_app() -> FastAPI:
    problems = ProblemMap()
    problems.add(SlotTaken, 409, Msg(ru="Время занято.", en="The time is taken."))
    problems.add(
        TooLate,
        409,
        lambda e: Msg(ru=f"Опоздание на {e.minutes} мин.", en=f"{e.minutes} minutes late."),
        extra=lambda e: {"minutes": e.minutes},
    )
    problems.add(
        Busy,
        429,
        Msg(ru="Подождите.", en="Wait."),
        headers=lambda e: {"Retry-After": str(e.retry_after)},
    )
    problems.add(
        NoEntry, 401, Msg(ru="Войдите.", en="Log in."), headers={"WWW-Authenticate": "Bearer"}
    )
    app = FastAPI()
    install_problem_handlers(app, problems)
    errors: dict[str, DomainError] = {
        "taken": SlotTaken(),
        "late": TooLate(5),
        "very-late": WayTooLate(90),
        "unmapped": Unmapped(),
        "busy": Busy(42),
        "no-entry": NoEntry(),
    }

    @app.get("/{which}")
    async def refuse(which: str) -> None:
        raise errors[which]

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t")


async def test_a_mapped_error_reads_as_its_problem_in_the_callers_language(
    client: httpx.AsyncClient,
) -> None:
    ru = await client.get("/taken")
    en = await client.get("/taken", headers={"Accept-Language": "en"})
    assert ru.status_code == en.status_code == 409
    assert ru.headers["content-type"] == "application/problem+json"
    assert ru.json()["code"] == en.json()["code"] == "slot_taken"
    assert ru.json()["detail"] == "Время занято."
    assert en.json()["detail"] == "The time is taken."
    assert en.json()["title"] == "Conflict"


async def test_text_and_extra_fields_come_from_the_errors_attributes_and_subclasses_inherit(
    client: httpx.AsyncClient,
) -> None:
    late = (await client.get("/late", headers={"Accept-Language": "en"})).json()
    assert (late["code"], late["detail"], late["minutes"]) == ("too_late", "5 minutes late.", 5)
    very = (await client.get("/very-late", headers={"Accept-Language": "en"})).json()
    assert (very["code"], very["minutes"]) == ("way_too_late", 90)


async def test_headers_are_fixed_or_read_from_the_error(client: httpx.AsyncClient) -> None:
    busy = await client.get("/busy")
    assert (busy.status_code, busy.headers["retry-after"]) == (429, "42")
    assert busy.json()["code"] == "busy"
    no_entry = await client.get("/no-entry")
    assert (no_entry.status_code, no_entry.headers["www-authenticate"]) == (401, "Bearer")


async def test_an_unmapped_domain_error_is_a_500_without_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/unmapped")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "unmapped" not in response.text


def test_a_table_refuses_a_second_mapping_and_lists_what_it_misses() -> None:
    table: ErrorTable[str] = ErrorTable({SlotTaken: "taken"})
    with pytest.raises(ValueError, match="mapped twice"):
        table.add(SlotTaken, "again")
    assert table.missing([SlotTaken, TooLate]) == [TooLate]
    assert table.get(WayTooLate(1)) is None
    table.add(TooLate, "late")
    assert table.get(WayTooLate(1)) == "late"
