"""Message templates (Jinja2): one file per template and language, blocks per part.

``templates/<lang>/<name>.j2`` defines ``subject`` and ``text`` (plain text, not escaped) and may
define ``telegram`` (Telegram HTML) and ``html_body``; by default the HTML email is the text in
paragraphs and the Telegram message the subject in bold over the text. The same file is compiled
twice: plain for the subject and the text part, HTML-escaped for the HTML part and Telegram, so a
name like ``<b>`` can never become markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from notify.domain.formatting import format_deadline, format_money, format_time, format_when

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("ru", "en")
_ESCAPED = "@html"

BUTTON_LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {
        "pay": "Оплатить",
        "confirm": "Приду",
        "cancel": "Отменить запись",
        "accept": "Принять",
        "open": "Открыть",
        "book": "Записаться",
        "take": "Пройти опросник",
        "calendar": "В календарь (.ics)",
        "google_calendar": "Google Календарь",
        "calendar_cancel": "Отменить запись",
        "calendar_keep": "Оставить запись",
    },
    "en": {
        "pay": "Pay",
        "confirm": "I'll be there",
        "cancel": "Cancel appointment",
        "accept": "Accept",
        "open": "Open",
        "book": "Book",
        "take": "Take it",
        "calendar": "Add to calendar (.ics)",
        "google_calendar": "Google Calendar",
        "calendar_cancel": "Cancel the appointment",
        "calendar_keep": "Keep it",
    },
}


# The short notice a tap on an inline button shows (``answerCallbackQuery``), by outcome.
TAP_ANSWERS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {
        "sent": "Запрос отправлен",
        "pending": "Запрос уже обрабатывается",
        "invalid": "Эта кнопка больше не действует",
    },
    "en": {
        "sent": "Request sent",
        "pending": "Already being processed",
        "invalid": "This button no longer works",
    },
}


def tap_answer(outcome: str, language: str) -> str:
    """The text a tap's notice shows in ``language`` (Russian when it is not known)."""
    return TAP_ANSWERS.get(language, TAP_ANSWERS["ru"])[outcome]


@dataclass(frozen=True)
class Rendered:
    """A message in one language: email subject, text and HTML parts, Telegram HTML text."""

    subject: str
    text: str
    html: str
    telegram: str


class _TwiceLoader(BaseLoader):
    """Serves each file under its name and under ``<name>@html`` (compiled with escaping)."""

    def __init__(self, inner: FileSystemLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        return self.inner.get_source(environment, template.removesuffix(_ESCAPED))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@pass_context
def _when(ctx: Context, value: Any) -> str:
    return format_when(_as_datetime(value), ctx["_zone"], ctx["_lang"])


@pass_context
def _day(ctx: Context, value: Any) -> str:
    return format_when(_as_datetime(value), ctx["_zone"], ctx["_lang"], with_zone=False)


@pass_context
def _until(ctx: Context, value: Any) -> str:
    return format_deadline(_as_datetime(value), ctx["_zone"], ctx["_lang"])


@pass_context
def _clock(ctx: Context, value: Any) -> str:
    return format_time(_as_datetime(value), ctx["_zone"])


@pass_context
def _money(ctx: Context, value: Mapping[str, Any] | None) -> str:
    if not value:
        return ""
    return format_money(int(value["amount"]), str(value.get("currency", "RUB")), ctx["_lang"])


SESSION_FORMATS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {"online": "онлайн", "in_person": "очно"},
    "en": {"online": "online", "in_person": "in person"},
}


@pass_context
def _session(ctx: Context, value: str) -> str:
    return SESSION_FORMATS.get(ctx["_lang"], SESSION_FORMATS["ru"]).get(value, value)


# YooKassa's cancellation_details.reason of a payment, as a client reads it.
DECLINE_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {
        "insufficient_funds": "на карте недостаточно денег",
        "card_expired": "срок действия карты истёк",
        "3d_secure_failed": "платёж не подтверждён кодом из банка (3-D Secure)",
        "expired_on_confirmation": "время на оплату истекло",
        "invalid_card_number": "номер карты указан неверно",
        "invalid_csc": "код CVC/CVV указан неверно",
        "call_issuer": "банк отклонил платёж; причину знает ваш банк",
        "fraud_suspected": "банк отклонил платёж из соображений безопасности",
        "payment_method_limit_exceeded": "превышен лимит платежей по карте",
        "payment_method_restricted": "операции по карте ограничены",
        "country_forbidden": "банк не проводит платежи из этой страны",
        "issuer_unavailable": "банк карты не ответил",
        "internal_timeout": "платёжная система не ответила вовремя",
        "hold_ended": "время уже не было закреплено за вами, поэтому деньги не списаны "
        "(банк снимет блокировку суммы)",
    },
    "en": {
        "insufficient_funds": "the card has insufficient funds",
        "card_expired": "the card has expired",
        "3d_secure_failed": "the payment was not confirmed with your bank's code (3-D Secure)",
        "expired_on_confirmation": "the time to pay ran out",
        "invalid_card_number": "the card number is wrong",
        "invalid_csc": "the CVC/CVV code is wrong",
        "call_issuer": "your bank declined the payment; your bank knows why",
        "fraud_suspected": "your bank declined the payment for security reasons",
        "payment_method_limit_exceeded": "the card's payment limit is reached",
        "payment_method_restricted": "the card is restricted",
        "country_forbidden": "the bank does not accept payments from this country",
        "issuer_unavailable": "your card's bank did not answer",
        "internal_timeout": "the payment system did not answer in time",
        "hold_ended": "the time was no longer held for you, so no money was taken "
        "(your bank releases the blocked amount)",
    },
}
DECLINED: Final[Mapping[str, str]] = {
    "ru": "банк или платёжная система отклонили платёж",
    "en": "the bank or the payment system declined the payment",
}


@pass_context
def _decline(ctx: Context, value: str) -> str:
    lang = ctx["_lang"] if ctx["_lang"] in DECLINE_REASONS else "ru"
    return DECLINE_REASONS[lang].get(value, DECLINED[lang])


# How a questionnaire is named in a message: the published names of the seeded ones; any other
# by its code (a practice's own questionnaire has no other name notify knows).
QUESTIONNAIRE_NAMES: Final[Mapping[str, str]] = {"phq9": "PHQ-9", "gad7": "GAD-7"}


def _questionnaire(code: str) -> str:
    return QUESTIONNAIRE_NAMES.get(code, code.upper())


# Why a crisis alert was escalated to the admins, as they read it.
ESCALATION_REASONS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {
        "failed": "доставка не удалась",
        "telegram_unreachable": "чат Telegram заблокировал бота",
        "unknown_recipient": "получатель неизвестен уведомлениям",
        "no_channel": "у получателя нет ни одного канала связи",
        "not_sent_in_time": "не доставлено вовремя, попытки продолжаются",
    },
    "en": {
        "failed": "the delivery failed",
        "telegram_unreachable": "the Telegram chat blocked the bot",
        "unknown_recipient": "notify does not know the recipient",
        "no_channel": "the recipient has no channel to reach them on",
        "not_sent_in_time": "not delivered in time; still trying",
    },
}
CHANNEL_NAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {"telegram": "Telegram", "email": "почта"},
    "en": {"telegram": "Telegram", "email": "email"},
}


@pass_context
def _escalation_reason(ctx: Context, value: str) -> str:
    lang = ctx["_lang"] if ctx["_lang"] in ESCALATION_REASONS else "ru"
    return ESCALATION_REASONS[lang].get(value, ESCALATION_REASONS[lang]["failed"])


@pass_context
def _channel(ctx: Context, value: str) -> str:
    return CHANNEL_NAMES.get(ctx["_lang"], CHANNEL_NAMES["ru"]).get(value, value)


_URL = re.compile(r"(https?://[^\s<>\"']+)")


def _paragraphs(value: str) -> Markup:
    """Plain (already escaped) text as HTML paragraphs, with links made clickable."""
    text = str(value if isinstance(value, Markup) else escape(value))
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        linked = _URL.sub(r'<a href="\1">\1</a>', block)
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return Markup("\n".join(out))


class TemplateRenderer:
    """Renders ``templates/<lang>/<name>.j2`` in a recipient's language and zone."""

    def __init__(self, directory: Path = TEMPLATES_DIR, **globals_: Any) -> None:
        self.env = Environment(
            loader=_TwiceLoader(FileSystemLoader(str(directory))),
            autoescape=lambda name: bool(name and name.endswith(_ESCAPED)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(
            when=_when,
            day=_day,
            until=_until,
            clock=_clock,
            money=_money,
            session=_session,
            decline=_decline,
            questionnaire=_questionnaire,
            escalation_reason=_escalation_reason,
            channel=_channel,
            paragraphs=_paragraphs,
        )
        self.env.globals.update(_layout=f"_layout.j2{_ESCAPED}", **globals_)

    def render(
        self, name: str, context: Mapping[str, Any], *, language: str, zone: str
    ) -> Rendered:
        """Render every part of template ``name``; an unknown language falls back to Russian."""
        lang = language if language in LANGUAGES else "ru"
        values = {**context, "_lang": lang, "_zone": zone}
        plain = self.env.get_template(f"{lang}/{name}.j2")
        escaped = self.env.get_template(f"{lang}/{name}.j2{_ESCAPED}")
        subject = " ".join(
            line.strip() for line in _block(plain, "subject", values).splitlines() if line.strip()
        )
        text = _block(plain, "text", values)
        html = escaped.render(values).strip()
        telegram = _block(escaped, "telegram", values)
        if not telegram:
            telegram = (
                f"<b>{escape(subject)}</b>\n\n{escape(text)}" if subject else str(escape(text))
            )
        return Rendered(subject=subject, text=text, html=html, telegram=telegram)


def _block(template: Any, name: str, values: Mapping[str, Any]) -> str:
    block = template.blocks.get(name)
    if block is None:
        return ""
    rendered = "".join(block(template.new_context(dict(values))))
    return re.sub(r"\n{3,}", "\n\n", rendered).strip()
