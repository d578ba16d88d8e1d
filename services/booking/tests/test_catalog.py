"""Catalog and specialists: public reads, admin/owner writes, validation, pagination, versions."""

from __future__ import annotations

import uuid

import pytest

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROBLEM = "application/problem+json"


async def test_admin_creates_a_service_anyone_reads_it(booking: Booking) -> None:
    service = await booking.create_service(
        durations_minutes=[50, 80],
        prepayment_required=True,
        cancellation_tiers=[
            {"min_notice_minutes": 2880, "refund_percent": 100},
            {"min_notice_minutes": 1440, "refund_percent": 50},
        ],
    )
    assert service["owner_specialist_id"] is None
    assert service["price"] == {"amount": 300000, "currency": "RUB"}
    assert service["buffer_after_minutes"] == 10 and service["version"] == 1
    r = await booking.client.get(f"/api/booking/services/{service['id']}")  # no token
    assert r.status_code == 200
    assert r.json()["durations_minutes"] == [50, 80]
    assert r.headers["etag"] == '"1"'


async def test_service_list_pages_with_a_cursor(booking: Booking) -> None:
    specialist = await booking.create_specialist()
    ids = []
    for _ in range(3):
        ids.append((await booking.create_service())["id"])
    r = await booking.client.patch(
        f"/api/booking/specialists/{specialist['user_id']}",
        json={"service_ids": ids},
        headers=booking.admin,
    )
    assert r.status_code == 200, r.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"specialist_id": specialist["user_id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await booking.client.get("/api/booking/services", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)  # one fake instant: the id breaks the tie
    bad = await booking.client.get("/api/booking/services", params={"cursor": "nonsense!"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_only_admin_or_owning_specialist_writes_a_service(booking: Booking) -> None:
    owner = uuid.uuid4()
    r = await booking.client.post(
        "/api/booking/services",
        json={
            "name": "Пара",
            "durations_minutes": [90],
            "price": {"amount": 500000},
            "format": "in_person",
        },
        headers=booking.auth("specialist", sub=owner),
    )
    assert r.status_code == 201, r.text
    service = r.json()
    assert service["owner_specialist_id"] == str(owner)
    url = f"/api/booking/services/{service['id']}"

    other = await booking.client.patch(
        url, json={"name": "Чужая"}, headers=booking.auth("specialist")
    )
    assert other.status_code == 403 and other.headers["content-type"] == PROBLEM
    client = await booking.client.post(
        "/api/booking/services", json={}, headers=booking.auth("client")
    )
    assert client.status_code == 403
    anonymous = await booking.client.patch(url, json={"name": "x"})
    assert anonymous.status_code == 401

    mine = await booking.client.patch(
        url,
        json={"name": "Парная терапия", "slot_step_minutes": 30},
        headers={**booking.auth("specialist", sub=owner), "If-Match": '"1"'},
    )
    assert mine.status_code == 200, mine.text
    assert (mine.json()["name"], mine.json()["version"]) == ("Парная терапия", 2)
    stale = await booking.client.patch(
        url,
        json={"name": "Снова"},
        headers={**booking.auth("specialist", sub=owner), "If-Match": '"1"'},
    )
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert (await booking.client.get(url)).json()["name"] == "Парная терапия"


@pytest.mark.parametrize(
    "fields",
    [
        {"price": {"amount": 0}, "prepayment_required": True},
        {"durations_minutes": [50, 50]},
        {"durations_minutes": []},
        {
            "cancellation_tiers": [
                {"min_notice_minutes": 2880, "refund_percent": 50},
                {"min_notice_minutes": 1440, "refund_percent": 100},
            ]
        },
        {"format": "telepathy"},
        {"price": {"amount": -1}},
    ],
)
async def test_bad_service_is_422_problem(booking: Booking, fields: dict[str, object]) -> None:
    body = {
        "name": "Консультация",
        "durations_minutes": [50],
        "price": {"amount": 300000},
        "format": "online",
        **fields,
    }
    r = await booking.client.post("/api/booking/services", json=body, headers=booking.admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "validation_failed" and r.json()["errors"]


async def test_prepayment_on_a_free_service_is_refused_on_patch(booking: Booking) -> None:
    service = await booking.create_service(price={"amount": 0})
    r = await booking.client.patch(
        f"/api/booking/services/{service['id']}",
        json={"prepayment_required": True},
        headers=booking.admin,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "prepayment_required"]


async def test_specialist_record_admin_creates_specialist_edits_own(booking: Booking) -> None:
    service = await booking.create_service()
    specialist = await booking.create_specialist(
        service_ids=[service["id"]], time_zone="Europe/Berlin", daily_cap=4
    )
    sid = specialist["user_id"]
    assert specialist["time_zone"] == "Europe/Berlin" and specialist["daily_cap"] == 4
    public = await booking.client.get(f"/api/booking/specialists/{sid}")
    assert public.status_code == 200 and public.json()["service_ids"] == [service["id"]]

    listed = await booking.client.get(
        "/api/booking/specialists", params={"service_id": service["id"]}
    )
    assert [s["user_id"] for s in listed.json()["items"]] == [sid]

    by_client = await booking.client.post(
        "/api/booking/specialists",
        json={"user_id": str(uuid.uuid4()), "display_name": "X"},
        headers=booking.auth("client"),
    )
    assert by_client.status_code == 403
    by_self = await booking.client.post(
        "/api/booking/specialists",
        json={"user_id": sid, "display_name": "X"},
        headers=booking.auth("specialist", sub=uuid.UUID(sid)),
    )
    assert by_self.status_code == 403  # creating is the admin's, for now
    again = await booking.client.post(
        "/api/booking/specialists",
        json={"user_id": sid, "display_name": "X"},
        headers=booking.admin,
    )
    assert again.status_code == 409 and again.json()["code"] == "specialist_exists"

    own = await booking.client.patch(
        f"/api/booking/specialists/{sid}",
        json={
            "weekly_hours": [{"weekday": 1, "start": "10:00", "end": "14:00"}],
            "daily_cap": None,
        },
        headers=booking.auth("specialist", sub=uuid.UUID(sid)),
    )
    assert own.status_code == 200, own.text
    assert own.json()["weekly_hours"] == [{"weekday": 1, "start": "10:00", "end": "14:00"}]
    assert own.json()["daily_cap"] is None and own.json()["version"] == 2
    other = await booking.client.patch(
        f"/api/booking/specialists/{sid}",
        json={"display_name": "Чужой"},
        headers=booking.auth("specialist"),
    )
    assert other.status_code == 403
    missing = await booking.client.patch(
        f"/api/booking/specialists/{uuid.uuid4()}", json={}, headers=booking.admin
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../etc/passwd"}, "time_zone"),
        (
            {
                "weekly_hours": [
                    {"weekday": 1, "start": "09:00", "end": "13:00"},
                    {"weekday": 1, "start": "12:00", "end": "18:00"},
                ]
            },
            "weekly_hours",
        ),
        ({"weekly_hours": [{"weekday": 8, "start": "09:00", "end": "13:00"}]}, "weekly_hours"),
        ({"weekly_hours": [{"weekday": 1, "start": "13:00", "end": "09:00"}]}, "weekly_hours"),
        ({"weekly_hours": [{"weekday": 1, "start": "9:00", "end": "25:00"}]}, "weekly_hours"),
        ({"service_ids": [str(uuid.uuid4())]}, "service_ids"),
    ],
)
async def test_bad_specialist_is_422(
    booking: Booking, fields: dict[str, object], field: str
) -> None:
    user_id = await booking.know(roles=("client", "specialist"))
    body = {"user_id": str(user_id), "display_name": "Анна", **fields}
    r = await booking.client.post("/api/booking/specialists", json=body, headers=booking.admin)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_failed"
    assert field in r.json()["errors"][0]["loc"]


async def test_overrides_public_read_owner_write(booking: Booking) -> None:
    specialist = await booking.create_specialist()
    sid = specialist["user_id"]
    me = booking.auth("specialist", sub=uuid.UUID(sid))
    day_off = await booking.client.put(
        f"/api/booking/specialists/{sid}/overrides/2026-05-01",
        json={"hours": [], "note": "праздник"},
        headers=me,
    )
    assert day_off.status_code == 200, day_off.text
    short = await booking.client.put(
        f"/api/booking/specialists/{sid}/overrides/2026-05-02",
        json={"hours": [{"start": "10:00", "end": "12:00"}], "daily_cap": 1},
        headers=me,
    )
    assert short.status_code == 200
    other = await booking.client.put(
        f"/api/booking/specialists/{sid}/overrides/2026-05-03",
        json={"hours": []},
        headers=booking.auth("specialist"),
    )
    assert other.status_code == 403
    overlapping = await booking.client.put(
        f"/api/booking/specialists/{sid}/overrides/2026-05-03",
        json={"hours": [{"start": "10:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]},
        headers=me,
    )
    assert overlapping.status_code == 422

    page = await booking.client.get(
        f"/api/booking/specialists/{sid}/overrides", params={"from": "2026-05-01", "limit": 1}
    )
    assert page.status_code == 200
    assert [o["date"] for o in page.json()["items"]] == ["2026-05-01"]
    assert page.json()["items"][0]["hours"] == []
    rest = await booking.client.get(
        f"/api/booking/specialists/{sid}/overrides",
        params={"cursor": page.json()["next_cursor"]},
    )
    assert [o["date"] for o in rest.json()["items"]] == ["2026-05-02"]
    gone = await booking.client.delete(
        f"/api/booking/specialists/{sid}/overrides/2026-05-01", headers=me
    )
    assert gone.status_code == 204


async def test_time_off_is_private_and_its_reason_encrypted(booking: Booking) -> None:
    specialist = await booking.create_specialist()
    sid = specialist["user_id"]
    me = booking.auth("specialist", sub=uuid.UUID(sid))
    r = await booking.client.post(
        f"/api/booking/specialists/{sid}/time-off",
        json={
            "starts_at": "2026-04-01T00:00:00+03:00",
            "ends_at": "2026-04-08T00:00:00+03:00",
            "reason": "больничный",
        },
        headers=me,
    )
    assert r.status_code == 201, r.text
    off = r.json()
    assert off["starts_at"] == "2026-03-31T21:00:00Z"
    (row,) = await booking.fetch("SELECT reason FROM time_off WHERE id = $1", uuid.UUID(off["id"]))
    assert "больничный" not in row["reason"] and row["reason"].startswith("gAAAA")

    listed = await booking.client.get(f"/api/booking/specialists/{sid}/time-off", headers=me)
    assert [t["reason"] for t in listed.json()["items"]] == ["больничный"]
    for headers in (booking.auth("specialist"), booking.auth("client")):
        assert (
            await booking.client.get(f"/api/booking/specialists/{sid}/time-off", headers=headers)
        ).status_code == 403
    assert (await booking.client.get(f"/api/booking/specialists/{sid}/time-off")).status_code == 401
    backwards = await booking.client.post(
        f"/api/booking/specialists/{sid}/time-off",
        json={"starts_at": "2026-04-08T00:00:00Z", "ends_at": "2026-04-01T00:00:00Z"},
        headers=me,
    )
    assert backwards.status_code == 422
    naive = await booking.client.post(
        f"/api/booking/specialists/{sid}/time-off",
        json={"starts_at": "2026-04-01T00:00:00", "ends_at": "2026-04-02T00:00:00"},
        headers=me,
    )
    assert naive.status_code == 422
    other = await booking.client.delete(
        f"/api/booking/specialists/{sid}/time-off/{off['id']}", headers=booking.auth("specialist")
    )
    assert other.status_code == 403
    deleted = await booking.client.delete(
        f"/api/booking/specialists/{sid}/time-off/{off['id']}", headers=me
    )
    assert deleted.status_code == 204
