"""Questions, comments and reviews through moderation: the automatic checks, a moderator's
decisions (audited with the text as it was, the author told by event), what is public, who
may do what, rate limits, and reviews only of one's own completed appointments, once."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from .conftest import Content
from .test_library import _article

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _from() -> dict[str, str]:
    """A fresh source address (the posts of one test do not share another's limits)."""
    a, b, c = random.randrange(256), random.randrange(256), random.randrange(1, 255)
    return {"X-Forwarded-For": f"10.{a}.{b}.{c}"}


async def _post(
    content: Content, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    r = await content.client.post(path, json=body, headers={**_from(), **(headers or {})})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _decide(
    content: Content, post_id: str, decision: str, reason: str | None = None, **kw: Any
) -> Any:
    body: dict[str, Any] = {"decision": decision}
    if reason is not None:
        body["reason"] = reason
    return await content.client.post(
        f"/api/content/moderation/posts/{post_id}/decision",
        json=body,
        headers=kw.get("headers") or content.auth("moderator"),
    )


async def _specialist(content: Content) -> uuid.UUID:
    """A specialist content knows of (a published article)."""
    specialist = uuid.uuid4()
    await _article(content, specialist, title="Статья специалиста", body="Текст.")
    return specialist


async def test_a_review_needs_ones_own_completed_appointment_and_only_one(
    content: Content,
) -> None:
    client, specialist = uuid.uuid4(), uuid.uuid4()
    me = content.auth("client", sub=client)
    body = {"rating": 5, "body": "Очень помогла, спасибо большое!"}
    confirmed = await content.appointment(client, specialist)
    not_yet = await content.client.post(
        "/api/content/reviews",
        json={**body, "appointment_id": str(confirmed)},
        headers={**me, **_from()},
    )
    assert not_yet.status_code == 409 and not_yet.json()["code"] == "appointment_not_reviewable"

    held = await content.completed(client, specialist)
    someone_else = await content.client.post(
        "/api/content/reviews",
        json={**body, "appointment_id": str(held)},
        headers={**content.auth("client"), **_from()},
    )
    assert someone_else.status_code == 409
    assert someone_else.json()["code"] == "appointment_not_reviewable"
    unknown = await content.client.post(
        "/api/content/reviews",
        json={**body, "appointment_id": str(uuid.uuid4())},
        headers={**me, **_from()},
    )
    assert unknown.status_code == 409

    review = await _post(content, "/api/content/reviews", {**body, "appointment_id": str(held)}, me)
    assert (review["status"], review["specialist_id"]) == ("pending", str(specialist))
    again = await content.client.post(
        "/api/content/reviews",
        json={**body, "body": "Второй отзыв о той же встрече", "appointment_id": str(held)},
        headers={**me, **_from()},
    )
    assert again.status_code == 409 and again.json()["code"] == "already_reviewed"

    # Not public until approved; then counted on the specialist's page.
    page = f"/api/content/specialists/{specialist}"
    assert (await content.client.get(page)).json()["reviews"] == 0
    assert (await _decide(content, review["id"], "approve")).status_code == 200
    shown = (await content.client.get(page)).json()
    assert (shown["reviews"], shown["average_rating"]) == (1, 5.0)
    listed = (await content.client.get(f"{page}/reviews")).json()["items"]
    assert [(x["id"], x["rating"]) for x in listed] == [(review["id"], 5)]
    assert "author_id" not in listed[0]


async def test_moderation_decisions_are_audited_with_the_original_text_and_told(
    content: Content,
) -> None:
    author = uuid.uuid4()
    me = content.auth("client", sub=author)
    item = await _article(content, uuid.uuid4(), title="Статья для комментариев", body="Текст.")
    text = f"Спорный комментарий {uuid.uuid4().hex[:6]}"
    post = await _post(content, "/api/content/comments", {"item_id": item["id"], "body": text}, me)
    assert post["status"] == "pending"

    # A client cannot moderate; another client cannot see or change it.
    assert (await _decide(content, post["id"], "approve", headers=me)).status_code == 403
    assert (
        await content.client.get("/api/content/moderation/queue", headers=me)
    ).status_code == 403
    other = content.auth("client")
    assert (
        await content.client.get(f"/api/content/posts/{post['id']}", headers=other)
    ).status_code == 404
    stolen = await content.client.patch(
        f"/api/content/posts/{post['id']}", json={"body": "Чужая правка"}, headers=other
    )
    assert stolen.status_code == 404
    gone = await content.client.post(f"/api/content/posts/{post['id']}/withdraw", headers=other)
    assert gone.status_code == 404

    # Changes asked: the author edits (checked again, waits again); then a rejection.
    no_reason = await _decide(content, post["id"], "reject")
    assert no_reason.status_code == 422
    asked = await _decide(content, post["id"], "request_changes", "Смягчите формулировку")
    assert asked.json()["status"] == "changes_requested"
    edited = await content.client.patch(
        f"/api/content/posts/{post['id']}", json={"body": text + " (исправлено)"}, headers=me
    )
    assert edited.status_code == 200 and edited.json()["status"] == "pending"
    rejected = await _decide(content, post["id"], "reject", "Оскорбительно")
    assert rejected.json()["status"] == "rejected"

    # Never public; the author cannot change it any more.
    comments = await content.client.get("/api/content/comments", params={"item_id": item["id"]})
    assert comments.json()["items"] == []
    late = await content.client.patch(
        f"/api/content/posts/{post['id']}", json={"body": "Поздно"}, headers=me
    )
    assert late.status_code == 409 and late.json()["code"] == "post_closed"

    audit = (
        await content.client.get(
            f"/api/content/moderation/posts/{post['id']}", headers=content.auth("admin")
        )
    ).json()
    assert [(d["decision"], d["text"], d["reason"]) for d in audit["decisions"]] == [
        ("changes_requested", text, "Смягчите формулировку"),
        ("rejected", text + " (исправлено)", "Оскорбительно"),
    ]
    assert all(d["moderator_id"] for d in audit["decisions"])
    # At rest the text, the reasons and the audited text are ciphertext.
    rows = await content.fetch(
        "SELECT text, reason FROM moderation_decisions WHERE post_id = $1", uuid.UUID(post["id"])
    )
    (stored,) = await content.fetch("SELECT body FROM posts WHERE id = $1", uuid.UUID(post["id"]))
    for value in [stored["body"], *(r["text"] for r in rows), *(r["reason"] for r in rows)]:
        assert value.startswith("gAAAAA") and "комментарий" not in value

    events = await content.events.wait_for(
        "content.moderation.decided", count=2, item_id=post["id"]
    )
    assert [e["payload"]["decision"] for e in events] == ["changes_requested", "rejected"]
    assert events[0]["payload"]["author_id"] == str(author)
    assert events[0]["payload"]["item_title"] == "Статья для комментариев"
    assert text not in str(events)  # the post's own text never travels


async def test_an_approved_comment_is_public_and_closed_to_its_author(content: Content) -> None:
    author = uuid.uuid4()
    me = content.auth("client", sub=author)
    item = await _article(content, uuid.uuid4(), title="Ещё статья", body="Текст.")
    post = await _post(
        content, "/api/content/comments", {"item_id": item["id"], "body": "Спасибо за статью!"}, me
    )
    assert (await _decide(content, post["id"], "approve")).status_code == 200
    public = (
        await content.client.get("/api/content/comments", params={"item_id": item["id"]})
    ).json()["items"]
    assert [x["body"] for x in public] == ["Спасибо за статью!"]
    edit = await content.client.patch(
        f"/api/content/posts/{post['id']}", json={"body": "Другое"}, headers=me
    )
    assert edit.status_code == 409
    withdraw = await content.client.post(f"/api/content/posts/{post['id']}/withdraw", headers=me)
    assert withdraw.status_code == 409
    again = await _decide(content, post["id"], "reject", "Передумал")
    assert again.status_code == 409
    mine = (await content.client.get("/api/content/posts", headers=me)).json()["items"]
    assert [(x["id"], x["status"]) for x in mine] == [(post["id"], "approved")]

    # The item archived: its comments go with it.
    archived = await content.client.post(
        f"/api/content/items/{item['id']}/archive", headers=content.auth("admin")
    )
    assert archived.status_code == 200
    gone = await content.client.get("/api/content/comments", params={"item_id": item["id"]})
    assert gone.json()["items"] == []


async def test_an_anonymous_question_is_reached_by_its_token_and_answered_publicly(
    content: Content,
) -> None:
    specialist = await _specialist(content)
    sent = await _post(
        content,
        "/api/content/questions",
        {
            "specialist_id": str(specialist),
            "body": "Как перестать просыпаться ночью от тревоги?",
            "contact": "мой телеграм @anon_asker",
        },
    )
    token, post_id = sent["post_token"], sent["id"]
    assert token and sent["status"] == "pending"
    assert (await content.client.get(f"/api/content/posts/{post_id}")).status_code == 404
    wrong = await content.client.get(
        f"/api/content/posts/{post_id}", headers={"X-Post-Token": "nope"}
    )
    assert wrong.status_code == 404
    mine = {"X-Post-Token": token}
    edited = await content.client.patch(
        f"/api/content/posts/{post_id}",
        json={"body": "Как перестать просыпаться ночью от тревоги? Уже месяц так."},
        headers=mine,
    )
    assert edited.status_code == 200, edited.text
    (raw,) = await content.fetch(
        "SELECT contact, token_hash FROM posts WHERE id = $1", uuid.UUID(post_id)
    )
    assert raw["contact"].startswith("gAAAAA") and token not in raw["token_hash"]
    queued = (
        await content.client.get(
            f"/api/content/moderation/posts/{post_id}", headers=content.auth("moderator")
        )
    ).json()
    assert queued["contact"] == "мой телеграм @anon_asker" and queued["author_id"] is None

    # Only once approved may the specialist answer; then it is public on their page.
    to_specialist = content.auth("specialist", sub=specialist)
    early = await content.client.post(
        f"/api/content/questions/{post_id}/answer", json={"answer": "Ответ"}, headers=to_specialist
    )
    assert early.status_code == 409
    assert (await _decide(content, post_id, "approve")).status_code == 200
    stranger = await content.client.post(
        f"/api/content/questions/{post_id}/answer",
        json={"answer": "Ответ"},
        headers=content.auth("specialist"),
    )
    assert stranger.status_code == 404
    addressed = (
        await content.client.get(
            "/api/content/questions/addressed", params={"unanswered": True}, headers=to_specialist
        )
    ).json()["items"]
    assert [x["id"] for x in addressed] == [post_id]
    answered = await content.client.post(
        f"/api/content/questions/{post_id}/answer",
        json={"answer": "Попробуйте вести дневник сна."},
        headers=to_specialist,
    )
    assert answered.status_code == 200
    page = (await content.client.get(f"/api/content/specialists/{specialist}")).json()
    assert page["answered_questions"] == 1
    public = (await content.client.get(f"/api/content/specialists/{specialist}/questions")).json()
    assert [x["answer"] for x in public["items"]] == ["Попробуйте вести дневник сна."]
    assert "contact" not in public["items"][0]
    # No event for an anonymous author: notify could not reach them.
    assert (
        await content.events.wait_for("content.moderation.decided", count=0, item_id=post_id) == []
    )


async def test_automatic_checks_reject_or_flag_and_the_queue_counts_them(content: Content) -> None:
    specialist = await _specialist(content)
    ask = {"specialist_id": str(specialist)}
    short = await _post(content, "/api/content/questions", {**ask, "body": "Ну?"})
    assert (short["status"], short["reason"]) == ("rejected", "too_short")
    spam = await _post(
        content, "/api/content/questions", {**ask, "body": "Лучшие казиношки здесь, заходите все"}
    )
    assert (spam["status"], spam["reason"]) == ("rejected", "stop_word_reject")
    links = await _post(
        content,
        "/api/content/questions",
        {**ask, "body": "Смотрите https://a.example и https://b.example и https://c.example"},
    )
    assert (links["status"], links["reason"]) == ("rejected", "too_many_links")
    flagged = await _post(
        content,
        "/api/content/questions",
        {
            **ask,
            "body": "Мой муж идиоты слушает, позвоните мне: +7 (912) 345-67-89, ivan@example.org",
        },
    )
    assert flagged["status"] == "pending"
    assert sorted(flagged["flags"]) == ["personal_data", "stop_word"]

    # The same text again from the same address: refused as a repetition.
    same = _from()
    text = {**ask, "body": "Подскажите, как справиться с паникой в метро?"}
    first = await _post(content, "/api/content/questions", text, same)
    repeated = await _post(content, "/api/content/questions", text, same)
    assert first["status"] == "pending"
    assert (repeated["status"], repeated["reason"]) == ("rejected", "duplicate")

    moderator = content.auth("moderator")
    audit = (
        await content.client.get(f"/api/content/moderation/posts/{short['id']}", headers=moderator)
    ).json()
    assert [(d["decision"], d["moderator_id"], d["text"]) for d in audit["decisions"]] == [
        ("auto_rejected", None, "Ну?")
    ]
    counts = (
        await content.client.get("/api/content/moderation/queue/counts", headers=moderator)
    ).json()
    assert counts["pending"] >= 2 and counts["by_flag"]["personal_data"] >= 1
    assert counts["by_kind"]["question"] >= 2 and counts["oldest_at"] is not None
    assert counts["by_age"]["under_1h"] >= 2
    assert sum(counts["by_age"].values()) == counts["pending"]
    by_flag = (
        await content.client.get(
            "/api/content/moderation/queue",
            params={"flag": "personal_data", "order": "newest", "limit": 200},
            headers=moderator,
        )
    ).json()["items"]
    assert flagged["id"] in [x["id"] for x in by_flag]
    assert first["id"] not in [x["id"] for x in by_flag]
    oldest_first = (
        await content.client.get(
            "/api/content/moderation/queue", params={"limit": 200}, headers=moderator
        )
    ).json()["items"]
    times = [x["created_at"] for x in oldest_first]
    assert times == sorted(times) and short["id"] not in [x["id"] for x in oldest_first]


async def test_posts_are_rate_limited_per_author_and_per_address(content: Content) -> None:
    specialist = await _specialist(content)
    author = content.auth("client")
    for n in range(10):
        await _post(
            content,
            "/api/content/questions",
            {"specialist_id": str(specialist), "body": f"Вопрос номер {n} о тревоге"},
            author,
        )
    limited = await content.client.post(
        "/api/content/questions",
        json={"specialist_id": str(specialist), "body": "Ещё один вопрос о тревоге"},
        headers={**author, **_from()},
    )
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0

    address = _from()
    for n in range(30):
        r = await content.client.post(
            "/api/content/questions",
            json={"specialist_id": str(specialist), "body": f"Анонимный вопрос {n} о сне"},
            headers=address,
        )
        assert r.status_code == 201, r.text
    over = await content.client.post(
        "/api/content/questions",
        json={"specialist_id": str(specialist), "body": "Ещё анонимный вопрос о сне"},
        headers=address,
    )
    assert over.status_code == 429
