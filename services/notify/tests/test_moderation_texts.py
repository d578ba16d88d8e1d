"""A moderator's decision on a user's post, as its author reads it: each decision in Russian
and English, the reason shown (escaped in Telegram's HTML), a link to their posts."""

from __future__ import annotations

import pytest
from contracts.content.v1 import ModerationDecidedV1
from contracts.testing import example_payload
from notify.adapters.rendering import TemplateRenderer
from notify.domain import rules

renderer = TemplateRenderer(app_url="https://app.example", bot_url="https://t.me/bot")


@pytest.mark.parametrize(
    ("decision", "ru", "en"),
    [
        ("approved", "одобрена", "approved"),
        ("rejected", "отклонена", "rejected"),
        ("changes_requested", "просят исправить", "Changes asked"),
    ],
)
def test_the_author_reads_the_decision_and_the_reason(decision: str, ru: str, en: str) -> None:
    p = example_payload(
        ModerationDecidedV1,
        decision=decision,
        item_title="Как справиться с тревогой",
        reason="Уберите <ссылку> & телефон",
    )
    notice = rules.moderation_decided(p, posts_url="https://app.example/me/posts")
    assert notice.user_id == p.author_id and notice.category == "transactional"
    for language, word in (("ru", ru), ("en", en)):
        out = renderer.render(notice.template, notice.context, language=language, zone="UTC")
        assert word in out.subject and "Как справиться с тревогой" in out.subject
        assert "Уберите <ссылку> & телефон" in out.text
        assert "Уберите &lt;ссылку&gt; &amp; телефон" in out.telegram
        assert "https://app.example/me/posts" in out.text
