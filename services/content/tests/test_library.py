"""Articles and resources: the review before publication, a revision under review that leaves
the live text public, sanitized HTML, and the public search (Russian word forms, title above
body, highlights, the typo fallback; never a draft, an item under review or an archived one).
"""

from __future__ import annotations

import html.parser
import uuid
from typing import Any

import pytest

from .conftest import Content

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _slug() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def _draft(
    content: Content, author: uuid.UUID, *, language: str = "ru", **text: Any
) -> dict[str, Any]:
    body = {"kind": "article", "language": language, "slug": _slug(), "title": "Черновик"}
    body.update(text)
    r = await content.client.post(
        "/api/content/items", json=body, headers=content.auth("specialist", sub=author)
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _publish(content: Content, author: uuid.UUID, item_id: str) -> dict[str, Any]:
    mine = content.auth("specialist", sub=author)
    r = await content.client.post(f"/api/content/items/{item_id}/submit", headers=mine)
    assert r.status_code == 200, r.text
    r = await content.client.post(
        f"/api/content/items/{item_id}/publish", headers=content.auth("moderator")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _article(content: Content, author: uuid.UUID, **text: Any) -> dict[str, Any]:
    item = await _draft(content, author, **text)
    return await _publish(content, author, item["id"])


async def _search(content: Content, **params: Any) -> dict[str, Any]:
    r = await content.client.get("/api/content/library", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_an_item_is_public_only_once_a_reviewer_publishes_it(content: Content) -> None:
    author = uuid.uuid4()
    mine = content.auth("specialist", sub=author)
    word = f"уникальноеслово{uuid.uuid4().hex[:6]}"
    item = await _draft(content, author, title=f"Статья {word}", body="Текст.")
    assert (item["status"], item["revision"], item["pending"]["status"]) == ("draft", 0, "draft")
    by_slug = f"/api/content/library/ru/{item['slug']}"
    assert (await content.client.get(by_slug)).status_code == 404
    assert (await _search(content, q=word))["items"] == []

    # Another specialist does not see the draft; the author cannot publish it themselves.
    other = content.auth("specialist")
    assert (
        await content.client.get(f"/api/content/items/{item['id']}", headers=other)
    ).status_code == 404
    put = await content.client.put(
        f"/api/content/items/{item['id']}/draft", json={"title": "x"}, headers=other
    )
    assert put.status_code == 404
    submitted = await content.client.post(f"/api/content/items/{item['id']}/submit", headers=mine)
    assert submitted.json()["status"] == "in_review"
    self_publish = await content.client.post(
        f"/api/content/items/{item['id']}/publish", headers=mine
    )
    assert self_publish.status_code == 403
    assert (await _search(content, q=word))["items"] == []  # under review: not public

    published = await content.client.post(
        f"/api/content/items/{item['id']}/publish", headers=content.auth("admin")
    )
    assert published.status_code == 200, published.text
    p = published.json()
    assert (p["status"], p["revision"], p["pending"]) == ("published", 1, None)
    assert p["reading_minutes"] == 1 and p["published_by"] is not None
    (event,) = await content.events.wait_for("content.item.published", item_id=item["id"])
    assert event["payload"]["first_publication"] is True
    assert event["payload"]["revision"] == 1 and event["payload"]["kind"] == "article"
    assert (await content.client.get(by_slug)).json()["title"] == f"Статья {word}"
    assert [x["id"] for x in (await _search(content, q=word))["items"]] == [item["id"]]

    # Archived: gone from the library.
    archived = await content.client.post(f"/api/content/items/{item['id']}/archive", headers=mine)
    assert archived.json()["status"] == "archived"
    assert (await content.client.get(by_slug)).status_code == 404
    assert (await _search(content, q=word))["items"] == []


async def test_a_revision_under_review_leaves_the_live_text_public(content: Content) -> None:
    author = uuid.uuid4()
    mine = content.auth("specialist", sub=author)
    word = f"живойтекст{uuid.uuid4().hex[:6]}"
    item = await _article(content, author, title="Первая версия", body=f"Старый {word} текст.")
    edited = await content.client.put(
        f"/api/content/items/{item['id']}/draft",
        json={"title": "Вторая версия", "body": "Новый текст."},
        headers=mine,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["pending"]["number"] == 2
    await content.client.post(f"/api/content/items/{item['id']}/submit", headers=mine)
    live = (await content.client.get(f"/api/content/library/ru/{item['slug']}")).json()
    assert live["title"] == "Первая версия" and word in live["body_html"]
    assert [x["id"] for x in (await _search(content, q=word))["items"]] == [item["id"]]

    # A reviewer returns it with a note, the author resubmits, a reviewer publishes it.
    returned = await content.client.post(
        f"/api/content/items/{item['id']}/return",
        json={"note": "Добавьте источники"},
        headers=content.auth("moderator"),
    )
    assert returned.json()["pending"]["status"] == "returned"
    assert (await content.client.get(f"/api/content/library/ru/{item['slug']}")).json()[
        "title"
    ] == "Первая версия"
    await _publish(content, author, item["id"])
    live = (await content.client.get(f"/api/content/library/ru/{item['slug']}")).json()
    assert (live["title"], live["revision"]) == ("Вторая версия", 2)
    assert (await _search(content, q=word))["items"] == []
    events = await content.events.wait_for("content.item.published", count=2, item_id=item["id"])
    assert [e["payload"]["first_publication"] for e in events] == [True, False]
    revisions = (
        await content.client.get(f"/api/content/items/{item['id']}/revisions", headers=mine)
    ).json()
    assert [r["status"] for r in revisions] == ["superseded", "published"]


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_the_rendered_body_has_no_script_no_handlers_no_javascript_links(
    content: Content,
) -> None:
    body = (
        "# Заголовок\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        '<a href="javascript:alert(1)" onclick="alert(2)">ссылка</a> '
        "[ещё](JavaScript:alert(3)) [сайт](https://example.org/page) **жирный**"
    )
    item = await _article(content, uuid.uuid4(), title="Безопасность", body=body)
    page = (await content.client.get(f"/api/content/library/ru/{item['slug']}")).json()
    rendered = page["body_html"]
    parser = _Tags()
    parser.feed(rendered)
    assert "<script" not in rendered.lower() and "alert(1)</script>" not in rendered
    assert "onerror" not in rendered and "onclick" not in rendered
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "javascript" not in (attrs.get("href") or "").lower()
        assert "javascript" not in (attrs.get("src") or "").lower()
    links = [attrs for tag, attrs in parser.tags if tag == "a" and attrs.get("href")]
    assert links == [{"href": "https://example.org/page", "rel": "nofollow noopener"}]
    assert "<h1>Заголовок</h1>" in rendered and "<strong>жирный</strong>" in rendered


async def test_search_finds_russian_word_forms_ranks_titles_first_and_highlights(
    content: Content,
) -> None:
    author = uuid.uuid4()
    topic = f"тема-{uuid.uuid4().hex[:6]}"
    in_title = await _article(
        content,
        author,
        title="Как справиться с тревожностью",
        summary="Короткие упражнения",
        body="Несколько простых шагов на каждый день.",
        topics=[topic],
    )
    in_body = await _article(
        content,
        author,
        title="Режим дня",
        body="Нарушения сна часто связаны с тревожности и стрессом.",
        topics=[topic],
    )
    draft = await _draft(
        content, author, title="Тревожность и сон: черновик", body="сна", topics=[topic]
    )
    under_review = await _draft(content, author, title="Тревожность на проверке", topics=[topic])
    await content.client.post(
        f"/api/content/items/{under_review['id']}/submit",
        headers=content.auth("specialist", sub=author),
    )

    found = await _search(content, q="тревожность", topic=topic)
    assert found["match"] == "full_text"
    ids = [x["id"] for x in found["items"]]
    assert ids == [in_title["id"], in_body["id"]]  # the title match ranks first
    assert draft["id"] not in ids and under_review["id"] not in ids
    first, second = found["items"]
    assert first["rank"] > second["rank"]
    assert first["title_highlight"] == "Как справиться с <mark>тревожностью</mark>"
    assert "<mark>тревожности</mark>" in second["highlight"]

    # "сон" finds "сна" (a form the stemmer cannot join).
    sleep = await _search(content, q="сон", topic=topic)
    assert [x["id"] for x in sleep["items"]] == [in_body["id"]]
    assert "<mark>сна</mark>" in sleep["items"][0]["highlight"]

    # Filters: language, kind, author.
    assert (await _search(content, q="тревожность", topic=topic, language="en"))["items"] == []
    assert (await _search(content, q="тревожность", topic=topic, kind="video"))["items"] == []
    other_author = await _search(content, q="тревожность", topic=topic, author_id=str(uuid.uuid4()))
    assert other_author["items"] == []

    # Keyset pages: one at a time, the same order.
    page1 = await _search(content, q="тревожность", topic=topic, limit=1)
    page2 = await _search(
        content, q="тревожность", topic=topic, limit=1, cursor=page1["next_cursor"]
    )
    assert [x["id"] for x in page1["items"] + page2["items"]] == ids
    assert page2["next_cursor"] is None
    bad = await content.client.get("/api/content/library", params={"q": "сон", "cursor": "zz"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"

    # A typo: nothing matches by words, a similar title is offered.
    typo = await _search(content, q="тревожнастью", topic=topic)
    assert typo["match"] == "similar"
    assert [x["id"] for x in typo["items"]] == [in_title["id"]]

    # Newest first without a query.
    latest = await _search(content, topic=topic)
    assert [x["id"] for x in latest["items"]] == [in_body["id"], in_title["id"]]
    assert latest["match"] == "latest"


async def test_english_items_are_searched_in_english(content: Content) -> None:
    topic = f"topic-{uuid.uuid4().hex[:6]}"
    item = await _article(
        content,
        uuid.uuid4(),
        language="en",
        title="Sleeping better",
        body="Anxious thoughts at night.",
        topics=[topic],
    )
    found = await _search(content, q="sleep thought", topic=topic)
    assert [x["id"] for x in found["items"]] == [item["id"]]
    assert "<mark>thoughts</mark>" in found["items"][0]["highlight"]


async def test_slugs_are_unique_per_language_and_media_need_a_url(content: Content) -> None:
    author = content.auth("specialist")
    slug = _slug()
    body = {"kind": "article", "language": "ru", "slug": slug, "title": "А"}
    assert (
        await content.client.post("/api/content/items", json=body, headers=author)
    ).status_code == 201
    again = await content.client.post("/api/content/items", json=body, headers=author)
    assert again.status_code == 409 and again.json()["code"] == "slug_taken"
    english = await content.client.post(
        "/api/content/items", json={**body, "language": "en"}, headers=author
    )
    assert english.status_code == 201
    video = await content.client.post(
        "/api/content/items", json={**body, "slug": _slug(), "kind": "video"}, headers=author
    )
    assert video.status_code == 422 and video.json()["code"] == "media_url_missing"
    client = await content.client.post(
        "/api/content/items", json={**body, "slug": _slug()}, headers=content.auth("client")
    )
    assert client.status_code == 403


async def test_the_readme_walkthrough_article_is_found_by_sleep(content: Content) -> None:
    topic = f"readme-{uuid.uuid4().hex[:6]}"
    body = "Что делать, если тревога мешает **сну** и нет сна."
    await _article(content, uuid.uuid4(), title="Тревога по ночам", body=body, topics=[topic])
    found = await _search(content, q="сон", topic=topic)
    assert [(i["title"], i["highlight"]) for i in found["items"]] == [
        (
            "Тревога по ночам",
            "Что делать, если тревога мешает <mark>сну</mark> и нет <mark>сна</mark>",
        )
    ]
