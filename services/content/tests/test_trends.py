"""Trends: a client's scores over time with bands, sessions on the same axis and the change
since the first run; for their specialist only with consent and only for their own clients;
and the same as an SVG chart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from .conftest import PHQ9, TRANSFER, Content, phq9_answers

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_clients_trend_with_sessions_and_reliable_change(content: Content) -> None:
    client, specialist, elsewhere = await content.consenting_client(), uuid.uuid4(), uuid.uuid4()
    first_session = datetime.now(UTC) - timedelta(days=20)
    own = await content.appointment(client, specialist, starts_at=first_session)
    other = await content.appointment(client, elsewhere)
    me = content.auth("client", sub=client)
    scores = [
        phq9_answers(3, 3, 2, 2, 2, 2, 1, 1, 0),  # 16
        phq9_answers(2, 2, 2, 2, 1, 1, 1, 1, 0),  # 12
        phq9_answers(1, 1, 1, 1, 1, 1, 1, 1, 0),  # 8
    ]
    runs = [await content.take(client, s) for s in scores]

    r = await content.client.get(f"/api/content/clients/{client}/trends", headers=me)
    assert r.status_code == 200, r.text
    body = r.json()
    (series,) = body["questionnaires"]
    assert (series["code"], series["min_score"], series["max_score"]) == ("phq9", 0, 27)
    assert [(p["score"], p["band"]) for p in series["points"]] == [
        (16, "moderately_severe"),
        (12, "moderate"),
        (8, "mild"),
    ]
    assert [p["run_id"] for p in series["points"]] == [run["id"] for run in runs]
    assert [b["code"] for b in series["bands"]][-1] == "severe"
    assert series["change"] == {
        "first": 16,
        "latest": 8,
        "delta": -8,
        "direction": "down",
        "reliable": True,
        "threshold": 6,
    }
    assert {s["appointment_id"] for s in body["sessions"]} == {str(own), str(other)}

    # The specialist: nothing without the transfer consent, then their own sessions only.
    theirs = content.auth("specialist", sub=specialist)
    refused = await content.client.get(f"/api/content/clients/{client}/trends", headers=theirs)
    assert refused.status_code == 403 and refused.json()["code"] == "consent_required"
    run_url = f"/api/content/runs/{runs[0]['id']}"
    assert (await content.client.get(run_url, headers=theirs)).status_code == 403
    await content.consent(client, TRANSFER)
    allowed = await content.client.get(f"/api/content/clients/{client}/trends", headers=theirs)
    assert allowed.status_code == 200
    assert [s["appointment_id"] for s in allowed.json()["sessions"]] == [str(own)]
    assert allowed.json()["questionnaires"][0]["change"]["reliable"] is True
    seen = await content.client.get(run_url, headers=theirs)
    assert seen.status_code == 200 and seen.json()["answers"]["q1"] == "nearly_every_day"
    listed = await content.client.get(
        "/api/content/runs", params={"client_id": str(client)}, headers=theirs
    )
    assert len(listed.json()["items"]) == 3

    # Not their client: 404, consent or not; another client too.
    stranger = content.auth("specialist", sub=uuid.uuid4())
    for headers in (stranger, content.auth("client")):
        r = await content.client.get(f"/api/content/clients/{client}/trends", headers=headers)
        assert r.status_code == 404
        assert (await content.client.get(run_url, headers=headers)).status_code == 404

    # Withdrawn: the specialist reads nothing again.
    await content.consent(client, TRANSFER, granted=False)
    again = await content.client.get(f"/api/content/clients/{client}/trends", headers=theirs)
    assert again.status_code == 403


async def test_a_small_change_is_not_reliable(content: Content) -> None:
    client = await content.consenting_client()
    await content.take(client, phq9_answers(1, 1, 1, 1, 0, 0, 0, 0, 0))
    await content.take(client, phq9_answers(2, 2, 2, 2, 1, 0, 0, 0, 0))
    r = await content.client.get(
        f"/api/content/clients/{client}/trends",
        params={"questionnaire_id": PHQ9},
        headers=content.auth("client", sub=client),
    )
    change = r.json()["questionnaires"][0]["change"]
    assert (change["delta"], change["direction"], change["reliable"]) == (5, "up", False)


async def test_the_trend_as_an_svg_chart(content: Content) -> None:
    client, specialist = await content.consenting_client(), uuid.uuid4()
    await content.appointment(client, specialist, starts_at=datetime.now(UTC) - timedelta(days=3))
    await content.take(client, phq9_answers(2, 2, 2, 2, 2, 2, 2, 2, 0))
    await content.take(client, phq9_answers(1, 1, 1, 1, 1, 1, 1, 1, 0))
    url = f"/api/content/clients/{client}/trends/{PHQ9}/chart.svg"
    r = await content.client.get(
        url, headers={**content.auth("client", sub=client), "Accept-Language": "en"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    svg = ElementTree.fromstring(r.text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert len(svg.findall("s:circle", ns)) == 2
    assert len(svg.findall("s:line[@class='session']", ns)) == 1
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "Patient Health Questionnaire" in texts and "Moderately severe (15–19)" in texts

    empty = await content.client.get(
        f"/api/content/clients/{client}/trends/{uuid.uuid4()}/chart.svg",
        headers=content.auth("client", sub=client),
    )
    assert empty.status_code == 404
    other = await content.client.get(url, headers=content.auth("client"))
    assert other.status_code == 404
