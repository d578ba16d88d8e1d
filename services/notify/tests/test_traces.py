"""notify's calls out are client spans (servicekit.tracing): a Bot API call is
``telegram <method>`` without the bot's token, the chat or the text in it."""

from __future__ import annotations

import json
import random

import pytest
from notify.adapters.telegram import RateLimiter, TelegramGateway, make_bot
from notify.domain.attempts import Sent
from opentelemetry.trace import SpanKind
from servicekit.testing import recording_spans

from .conftest import running_telegram

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_bot_api_call_is_a_client_span_without_the_token_or_the_chat() -> None:
    chat_id = random.randint(200_000_000, 2_000_000_000)
    async with running_telegram() as (tg, _):
        await tg.create_user(chat_id, first_name="Анна", language_code="ru")
        gateway = TelegramGateway(make_bot(tg.token, tg.base_url), RateLimiter(100))
        try:
            with recording_spans() as exporter:
                outcome = await gateway.send(chat_id, "Запись подтверждена")
                spans = list(exporter.get_finished_spans())
        finally:
            await gateway.close()
    assert isinstance(outcome, Sent)
    call = next(s for s in spans if s.name == "telegram sendMessage")
    assert call.kind == SpanKind.CLIENT
    attributes = json.dumps(dict(call.attributes or {}), ensure_ascii=False)
    assert tg.token not in attributes
    assert str(chat_id) not in attributes and "Запись" not in attributes
    assert dict(call.attributes or {})["rpc.method"] == "sendMessage"
