"""Questionnaire definitions over HTTP: the seeded PHQ-9 and GAD-7 as published, writing,
validating (422 with every reason), publishing versions that never change, archiving, and who
may see a specialist's own questionnaire."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from .conftest import GAD7, PHQ9, Content
from .test_runs import two_items

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_phq9_and_gad7_are_published_with_their_bands(content: Content) -> None:
    listed = await content.client.get("/api/content/questionnaires", params={"limit": 200})
    assert listed.status_code == 200
    by_code = {q["code"]: q for q in listed.json()["items"]}
    assert by_code["phq9"]["id"] == PHQ9 and by_code["gad7"]["id"] == GAD7
    assert by_code["phq9"]["title"]["ru"].startswith("Опросник здоровья пациента")

    phq9 = (await content.client.get(f"/api/content/questionnaires/{PHQ9}")).json()
    d = phq9["definition"]
    assert phq9["version"] == 1
    assert [(b["code"], b["min"], b["max"]) for b in d["bands"]] == [
        ("minimal", 0, 4),
        ("mild", 5, 9),
        ("moderate", 10, 14),
        ("moderately_severe", 15, 19),
        ("severe", 20, 27),
    ]
    assert d["crisis_rules"] == [{"reason": "phq9_item9", "item": "q9", "above": 0}]
    assert d["items"][8]["text"]["en"].startswith("Thoughts that you would be better off dead")
    assert d["items"][8]["text"]["ru"].startswith("Вас посещали мысли")
    assert d["items"][9]["shown_when"] == {"op": "gt", "value": 0, "items": None}
    assert d["items"][9]["options"][0]["score"] is None  # asked, never scored
    assert d["time_frame"] == {"ru": "за последние 2 недели", "en": "over the last 2 weeks"}
    assert (d["intake_threshold"], d["reliable_change"]) == (10, 6)

    gad7 = (await content.client.get(f"/api/content/questionnaires/{GAD7}/versions/1")).json()
    assert [(b["code"], b["min"], b["max"]) for b in gad7["definition"]["bands"]] == [
        ("minimal", 0, 4),
        ("mild", 5, 9),
        ("moderate", 10, 14),
        ("severe", 15, 21),
    ]
    assert gad7["definition"]["reliable_change"] == 4
    missing = await content.client.get(f"/api/content/questionnaires/{GAD7}/versions/2")
    assert missing.status_code == 404


async def test_an_invalid_definition_is_refused_with_every_reason(content: Content) -> None:
    doc = two_items(f"bad{uuid.uuid4().hex[:6]}", severe_from=2)
    doc["bands"][0]["max"] = 0  # a gap at 1
    doc["items"][1]["options"][1]["score"] = 5  # beyond the declared 0..1
    doc["crisis_rules"] = [{"reason": "c", "item": "z", "above": 0}]
    r = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": doc},
        headers={**content.auth("admin"), "Accept-Language": "en"},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "definition_invalid"
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["body", "definition", "items", "1", "options", "1", "score"], "score_out_of_range"),
        (["body", "definition", "crisis_rules", "0", "item"], "unknown_item"),
    ]
    assert body["errors"][0]["msg"] == "The score 5 is outside 0–1."

    doc["items"][1]["options"][1]["score"] = 1
    doc["crisis_rules"] = []
    r = await content.client.post(
        "/api/content/questionnaires", json={"definition": doc}, headers=content.auth("admin")
    )
    assert r.status_code == 422
    assert [e["type"] for e in r.json()["errors"]] == ["bands_gap"]
    assert r.json()["errors"][0]["msg"] == "Баллы 1–1 не попадают ни в один диапазон."

    shape = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": {**doc, "code": "Not A Code"}},
        headers=content.auth("admin"),
    )
    assert shape.status_code == 422 and shape.json()["code"] == "validation_failed"


async def test_writing_publishing_and_archiving(content: Content) -> None:
    admin = content.auth("admin")
    code = f"q{uuid.uuid4().hex[:8]}"
    nobody = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": two_items(code, severe_from=2)},
        headers=content.auth("client"),
    )
    assert nobody.status_code == 403
    created = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": two_items(code, severe_from=2)},
        headers=admin,
    )
    assert created.status_code == 201 and created.json()["latest_version"] == 0
    qid = created.json()["id"]
    taken = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": two_items(code, severe_from=2)},
        headers=admin,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "code_taken"

    # Not published yet: nobody takes it.
    assert (await content.client.get(f"/api/content/questionnaires/{qid}")).status_code == 404
    run = await content.client.post("/api/content/runs", json={"questionnaire_id": qid})
    assert run.status_code == 404

    first = await content.client.post(f"/api/content/questionnaires/{qid}/publish", headers=admin)
    assert first.status_code == 201 and first.json()["version"] == 1
    twice = await content.client.post(f"/api/content/questionnaires/{qid}/publish", headers=admin)
    assert twice.status_code == 409 and twice.json()["code"] == "nothing_to_publish"

    renamed = await content.client.put(
        f"/api/content/questionnaire-drafts/{qid}",
        json={"definition": two_items("other", severe_from=2)},
        headers=admin,
    )
    assert renamed.status_code == 422
    assert renamed.json()["errors"][0]["type"] == "code_changed"

    # A published version never changes, not even by hand in the database.
    (version,) = await content.fetch(
        "SELECT id FROM definition_versions WHERE questionnaire_id = $1", uuid.UUID(qid)
    )
    with pytest.raises(asyncpg.RestrictViolationError):
        await content.fetch(
            "UPDATE definition_versions SET definition = '{}'::jsonb WHERE id = $1", version["id"]
        )

    archived = await content.client.delete(f"/api/content/questionnaires/{qid}", headers=admin)
    assert archived.status_code == 204
    refused = await content.client.post("/api/content/runs", json={"questionnaire_id": qid})
    assert refused.status_code == 409 and refused.json()["code"] == "questionnaire_archived"
    listed = await content.client.get("/api/content/questionnaires", params={"limit": 200})
    assert qid not in [q["id"] for q in listed.json()["items"]]


async def test_a_specialists_own_questionnaire_is_theirs_and_their_assigned_clients(
    content: Content,
) -> None:
    specialist, other = uuid.uuid4(), uuid.uuid4()
    mine = content.auth("specialist", sub=specialist)
    created = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": two_items(f"own{uuid.uuid4().hex[:6]}", severe_from=2)},
        headers=mine,
    )
    assert created.status_code == 201 and created.json()["owner_id"] == str(specialist)
    qid = created.json()["id"]
    assert (
        await content.client.post(f"/api/content/questionnaires/{qid}/publish", headers=mine)
    ).status_code == 201

    theirs = content.auth("specialist", sub=other)
    draft = await content.client.get(f"/api/content/questionnaire-drafts/{qid}", headers=theirs)
    assert draft.status_code == 404
    assert (
        await content.client.post(f"/api/content/questionnaires/{qid}/publish", headers=theirs)
    ).status_code == 404
    drafts = await content.client.get("/api/content/questionnaire-drafts", headers=mine)
    assert [q["id"] for q in drafts.json()["items"]] == [qid]

    # Not in the public list, not readable anonymously or by a client it was not assigned to.
    listed = await content.client.get("/api/content/questionnaires", params={"limit": 200})
    assert qid not in [q["id"] for q in listed.json()["items"]]
    assert (await content.client.get(f"/api/content/questionnaires/{qid}")).status_code == 404
    client = await content.consenting_client()
    as_client = content.auth("client", sub=client)
    assert (
        await content.client.get(f"/api/content/questionnaires/{qid}", headers=as_client)
    ).status_code == 404

    # Assigned, the client reads and takes it.
    await content.appointment(client, specialist)
    assigned = await content.client.post(
        "/api/content/assignments",
        json={"client_id": str(client), "questionnaire_id": qid},
        headers=mine,
    )
    assert assigned.status_code == 201, assigned.text
    assert (
        await content.client.get(f"/api/content/questionnaires/{qid}", headers=as_client)
    ).status_code == 200
    run = await content.start(qid, as_client)
    assert run["assignment_id"] == assigned.json()["id"]
