"""Runs over HTTP with the service running: anonymous and signed-in, item by item and all at
once, consent-gated, encrypted at rest, scored by the version they started on, claimed once,
and announced through the outbox without the answers."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from contracts.cabinet.v1 import ConsentGrantedV1
from servicekit.testing import outbox_drained, wait_until

from .conftest import GAD7, HEALTH, PHQ9, Content, phq9_answers

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_anonymous_run_answered_item_by_item_resumes_and_scores(
    content: Content,
) -> None:
    run = await content.start(PHQ9)
    assert run["user_id"] is None and run["run_token"]
    assert run["definition_version"] == 1 and run["status"] == "in_progress"
    assert run["unanswered"] == run["asked"] == [f"q{n}" for n in range(1, 10)]
    token = {"X-Run-Token": run["run_token"]}
    url = f"/api/content/runs/{run['id']}"

    first = await content.client.put(
        f"{url}/answers/q1", json={"option": "several_days"}, headers=token
    )
    assert first.status_code == 200, first.text
    again = await content.client.put(
        f"{url}/answers/q1", json={"option": "several_days"}, headers=token
    )
    assert again.json()["answers"] == {"q1": "several_days"}  # idempotent per item
    changed = await content.client.put(
        f"{url}/answers/q1", json={"option": "more_than_half"}, headers=token
    )
    assert changed.json()["answers"] == {"q1": "more_than_half"}
    # The difficulty question is asked once the running total is above 0.
    assert changed.json()["asked"][-1] == "difficulty"
    assert "difficulty" not in changed.json()["unanswered"]  # asked, not required

    # Without the token (or with another) the run does not exist.
    assert (await content.client.get(url)).status_code == 404
    other = {"X-Run-Token": "x" * 43}
    assert (await content.client.get(url, headers=other)).status_code == 404
    assert (
        await content.client.put(f"{url}/answers/q2", json={"option": "not_at_all"}, headers=other)
    ).status_code == 404
    # A signed-in stranger neither.
    stranger = content.auth("client")
    assert (await content.client.get(url, headers=stranger)).status_code == 404

    # Resumed later: the answers are there, the rest is asked.
    resumed = (await content.client.get(url, headers=token)).json()
    assert resumed["answers"] == {"q1": "more_than_half"}
    assert resumed["unanswered"][:2] == ["q2", "q3"]

    rest = {f"q{n}": "not_at_all" for n in range(2, 10)}
    many = await content.client.put(f"{url}/answers", json={"answers": rest}, headers=token)
    assert many.status_code == 200 and many.json()["unanswered"] == []

    done = await content.client.post(f"{url}/complete", json={}, headers=token)
    assert done.status_code == 200, done.text
    result = done.json()["result"]
    assert (result["score"], result["max_score"], result["band"]["code"]) == (2, 27, "minimal")
    assert result["band"]["interpretation"]["ru"] and result["band"]["interpretation"]["en"]
    assert result["crisis"] is False and result["crisis_resources"] is None
    assert result["suggest_intake"] is False

    again_done = await content.client.post(f"{url}/complete", json={}, headers=token)
    assert again_done.status_code == 409 and again_done.json()["code"] == "run_completed"
    late = await content.client.put(
        f"{url}/answers/q2", json={"option": "several_days"}, headers=token
    )
    assert late.status_code == 409


async def test_bad_answers_and_missing_ones_are_refused(content: Content) -> None:
    run = await content.start(GAD7)
    token = {"X-Run-Token": run["run_token"]}
    url = f"/api/content/runs/{run['id']}"
    unknown_item = await content.client.put(
        f"{url}/answers/q9", json={"option": "not_at_all"}, headers=token
    )
    assert unknown_item.status_code == 422 and unknown_item.json()["code"] == "unknown_item"
    unknown_option = await content.client.put(
        f"{url}/answers/q1", json={"option": "always"}, headers=token
    )
    assert unknown_option.status_code == 422
    assert unknown_option.json()["code"] == "unknown_option"
    partial = await content.client.post(
        f"{url}/complete", json={"answers": {"q1": "several_days"}}, headers=token
    )
    assert partial.status_code == 409
    assert partial.json()["code"] == "answers_missing"
    assert partial.json()["unanswered"] == [f"q{n}" for n in range(2, 8)]
    # Nothing of the refused completion was kept: not even its answer.
    assert (await content.client.get(url, headers=token)).json()["answers"] == {}


async def test_a_signed_in_client_needs_the_health_data_consent(content: Content) -> None:
    client = uuid.uuid4()
    me = content.auth("client", sub=client)
    refused = await content.client.post(
        "/api/content/runs", json={"questionnaire_id": PHQ9}, headers=me
    )
    assert refused.status_code == 403 and refused.json()["code"] == "consent_required"

    await content.consent(client)
    run = await content.start(PHQ9, me)
    assert run["user_id"] == str(client) and run["run_token"] is None
    url = f"/api/content/runs/{run['id']}"
    ok = await content.client.put(f"{url}/answers/q1", json={"option": "several_days"}, headers=me)
    assert ok.status_code == 200

    # Withdrawn: no answer is stored from now on.
    await content.consent(client, granted=False)
    stopped = await content.client.put(
        f"{url}/answers/q2", json={"option": "several_days"}, headers=me
    )
    assert stopped.status_code == 403 and stopped.json()["code"] == "consent_required"
    rows = await content.fetch(
        "SELECT item_id FROM run_answers WHERE run_id = $1", uuid.UUID(run["id"])
    )
    assert [r["item_id"] for r in rows] == ["q1"]


async def test_answers_and_results_are_ciphertext_at_rest(content: Content) -> None:
    client = await content.consenting_client()
    done = await content.take(client, phq9_answers(3, 3, 3, 3, 3, 3, 3, 3, 0))
    assert done["result"]["score"] == 24
    rows = await content.fetch(
        "SELECT item_id, option FROM run_answers WHERE run_id = $1", uuid.UUID(done["id"])
    )
    assert len(rows) == 9
    for row in rows:
        assert row["option"] not in ("nearly_every_day", "not_at_all")
        assert row["option"].startswith("gAAAA")  # Fernet
    (run,) = await content.fetch("SELECT result FROM runs WHERE id = $1", uuid.UUID(done["id"]))
    # Fernet's URL-safe base64 has no quote: the result's JSON cannot show through by chance.
    assert run["result"].startswith("gAAAA") and '"score"' not in run["result"]


async def test_a_client_sees_only_their_own_runs(content: Content) -> None:
    alice, bob = await content.consenting_client(), await content.consenting_client()
    done = await content.take(alice, phq9_answers(1, 0, 0, 0, 0, 0, 0, 0, 0))
    url = f"/api/content/runs/{done['id']}"
    mine = await content.client.get(url, headers=content.auth("client", sub=alice))
    assert mine.status_code == 200 and mine.json()["answers"]["q1"] == "several_days"
    theirs = await content.client.get(url, headers=content.auth("client", sub=bob))
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    bob_list = await content.client.get(
        "/api/content/runs", headers=content.auth("client", sub=bob)
    )
    assert bob_list.json()["items"] == []
    peek = await content.client.get(
        "/api/content/runs",
        params={"client_id": str(alice)},
        headers=content.auth("client", sub=bob),
    )
    assert peek.status_code == 404
    alice_list = await content.client.get(
        "/api/content/runs", headers=content.auth("client", sub=alice)
    )
    assert [r["id"] for r in alice_list.json()["items"]] == [done["id"]]
    # Someone else's run cannot be answered or completed either.
    bob_h = content.auth("client", sub=bob)
    assert (await content.client.post(f"{url}/complete", json={}, headers=bob_h)).status_code == 404


async def test_item_9_raises_a_crisis_shows_help_at_once_and_is_announced_without_answers(
    content: Content,
) -> None:
    client = await content.consenting_client()
    raw: list[dict[str, Any]] = []
    async with raw_messages(content, "content.interactive_run.completed.v1", raw):
        done = await content.take(
            client, {**phq9_answers(0, 0, 0, 0, 0, 0, 0, 0, 1), "difficulty": "somewhat"}
        )
        result = done["result"]
        assert (result["score"], result["band"]["code"]) == (1, "minimal")
        assert result["crisis"] is True and result["crisis_reasons"] == ["phq9_item9"]
        help_ = result["crisis_resources"]
        assert help_["specialist_alerted"] is True
        assert any(line["phone"] == "112" for line in help_["lines"])
        assert help_["message"]["ru"] and help_["message"]["en"]

        (event,) = await content.events.wait_for(
            "content.interactive_run.completed", run_id=done["id"]
        )
        await wait_until(lambda: len(raw) == 1, timeout=20)
    p = event["payload"]
    assert p == {
        "run_id": done["id"],
        "user_id": str(client),
        "questionnaire_id": PHQ9,
        "questionnaire_code": "phq9",
        "definition_version": 1,
        "score": 1,
        "max_score": 27,
        "band": "minimal",
        "crisis": True,
        "crisis_reasons": ["phq9_item9"],
        "suggest_intake": False,
        "assigned_by_specialist_id": None,
        "completed_at": p["completed_at"],
    }
    # On the wire the health fields travel sealed, and no answer travels at all.
    body = raw[0]["body"]
    for text in ("several_days", "not_at_all", "somewhat", "difficulty", "phq9_item9"):
        assert text not in body
    assert '"crisis"' not in body and '"score"' not in body


async def test_a_score_of_10_suggests_an_intake(content: Content) -> None:
    client = await content.consenting_client()
    done = await content.take(
        client, {**phq9_answers(3, 3, 3, 1, 0, 0, 0, 0, 0), "difficulty": "very"}
    )
    assert done["result"]["score"] == 10 and done["result"]["suggest_intake"] is True
    (event,) = await content.events.wait_for("content.interactive_run.completed", run_id=done["id"])
    assert event["payload"]["suggest_intake"] is True and event["payload"]["band"] == "moderate"


async def test_a_run_is_scored_by_the_version_it_started_on(content: Content) -> None:
    admin = content.auth("admin")
    code = f"mood{uuid.uuid4().hex[:6]}"
    created = await content.client.post(
        "/api/content/questionnaires",
        json={"definition": two_items(code, severe_from=4)},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    published = await content.client.post(
        f"/api/content/questionnaires/{qid}/publish", headers=admin
    )
    assert published.status_code == 201 and published.json()["version"] == 1

    client = await content.consenting_client()
    me = content.auth("client", sub=client)
    run = await content.start(qid, me)
    await content.client.put(
        f"/api/content/runs/{run['id']}/answers/a", json={"option": "high"}, headers=me
    )

    # Mid-run, the definition changes (new bands) and is published as version 2.
    edited = await content.client.put(
        f"/api/content/questionnaire-drafts/{qid}",
        json={"definition": two_items(code, severe_from=2)},
        headers=admin,
    )
    assert edited.status_code == 200, edited.text
    v2 = await content.client.post(f"/api/content/questionnaires/{qid}/publish", headers=admin)
    assert v2.json()["version"] == 2

    done = await content.complete(run["id"], {"b": "high"}, me)
    assert done["definition_version"] == 1
    assert (done["result"]["score"], done["result"]["band"]["code"]) == (2, "minimal")
    # A run started now takes version 2, where the same answers are severe.
    later = await content.take(client, {"a": "high", "b": "high"}, qid)
    assert (later["definition_version"], later["result"]["band"]["code"]) == (2, "severe")


async def test_an_anonymous_run_is_claimed_once_and_then_announced(content: Content) -> None:
    run = await content.start(PHQ9)
    token = {"X-Run-Token": run["run_token"]}
    done = await content.complete(
        run["id"], {**phq9_answers(2, 2, 2, 2, 2, 0, 0, 0, 0), "difficulty": "very"}, token
    )
    assert done["result"]["crisis_resources"] is None
    await outbox_drained(content.svc.database_url)
    await content.events.flush()
    assert content.events.of("content.interactive_run.completed", run_id=run["id"]) == []

    newcomer = await content.consenting_client()
    signed = {**token, **content.auth("client", sub=newcomer)}
    url = f"/api/content/runs/{run['id']}/claim"
    wrong = await content.client.post(
        url, headers={"X-Run-Token": "nope", **content.auth("client", sub=newcomer)}
    )
    assert wrong.status_code == 404
    claimed = await content.client.post(url, headers=signed)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["user_id"] == str(newcomer)
    (event,) = await content.events.wait_for("content.interactive_run.completed", run_id=run["id"])
    assert event["payload"]["user_id"] == str(newcomer) and event["payload"]["score"] == 10

    again = await content.client.post(url, headers=signed)
    assert again.status_code == 409 and again.json()["code"] == "run_already_claimed"
    someone = await content.consenting_client()
    other = await content.client.post(url, headers={**token, **content.auth("client", sub=someone)})
    assert other.status_code == 409
    # The token no longer opens the run: it is the account's now.
    assert (
        await content.client.get(f"/api/content/runs/{run['id']}", headers=token)
    ).status_code == 404
    mine = await content.client.get(
        f"/api/content/runs/{run['id']}", headers=content.auth("client", sub=newcomer)
    )
    assert mine.status_code == 200

    # ... and it is on the new account's trend.
    trend = await content.client.get(
        f"/api/content/clients/{newcomer}/trends", headers=content.auth("client", sub=newcomer)
    )
    (series,) = trend.json()["questionnaires"]
    assert [p["run_id"] for p in series["points"]] == [run["id"]]


async def test_claiming_needs_the_health_data_consent(content: Content) -> None:
    run = await content.start(GAD7)
    newcomer = uuid.uuid4()
    r = await content.client.post(
        f"/api/content/runs/{run['id']}/claim",
        headers={"X-Run-Token": run["run_token"], **content.auth("client", sub=newcomer)},
    )
    assert r.status_code == 403 and r.json()["code"] == "consent_required"


async def test_a_late_grant_does_not_undo_a_withdrawal(content: Content) -> None:
    from datetime import UTC, datetime, timedelta

    client = await content.consenting_client()
    await content.consent(client, granted=False)
    await content.publish(
        ConsentGrantedV1(
            consent_id=uuid.uuid4(),
            user_id=client,
            purpose=HEALTH,
            document_id=uuid.uuid4(),
            document_version=1,
            granted_at=datetime.now(UTC) - timedelta(minutes=5),
        )
    )
    marker = await content.consenting_client()  # a later event on the same queue
    assert marker
    rows = await content.fetch(
        "SELECT granted FROM consents WHERE user_id = $1 AND purpose = $2", client, HEALTH
    )
    assert rows[0]["granted"] is False


def two_items(code: str, *, severe_from: int) -> dict[str, Any]:
    """A two-item scale 0..2 whose severe band starts at ``severe_from``."""

    def item(id_: str) -> dict[str, Any]:
        return {
            "id": id_,
            "text": {"ru": f"Вопрос {id_}", "en": f"Question {id_}"},
            "options": [
                {"id": "low", "label": {"ru": "Нет", "en": "No"}, "score": 0},
                {"id": "high", "label": {"ru": "Да", "en": "Yes"}, "score": 1},
            ],
        }

    def band(code_: str, lo: int, hi: int) -> dict[str, Any]:
        text = {"ru": code_, "en": code_}
        return {"code": code_, "min": lo, "max": hi, "label": text, "interpretation": text}

    return {
        "code": code,
        "title": {"ru": "Настроение", "en": "Mood"},
        "instruction": {"ru": "Ответьте", "en": "Answer"},
        "time_frame": {"ru": "за неделю", "en": "over the last week"},
        "option_scores": {"min": 0, "max": 1},
        "items": [item("a"), item("b")],
        "bands": [band("minimal", 0, severe_from - 1), band("severe", severe_from, 2)]
        if severe_from <= 2
        else [band("minimal", 0, 2)],
    }


@contextlib.asynccontextmanager
async def raw_messages(
    content: Content, routing_key: str, into: list[dict[str, Any]]
) -> AsyncIterator[None]:
    """Collect the raw bodies of one routing key on content's exchange, as the broker holds
    them (sealed), for the block."""
    connection = await aio_pika.connect(content.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            "content.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=routing_key)

        async def on(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                into.append({"body": message.body.decode(), "json": json.loads(message.body)})

        await queue.consume(on)
        yield
    finally:
        await connection.close()
