"""Notices tell the truth about money: every template that could speak of a payment or a refund,
rendered for a paid, an unpaid and a free appointment, in Russian and English, in every part
(email subject and text, Telegram). A refund line only when money goes back; a "not refunded"
line only when money was paid; nothing about money for an unpaid or free session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    AppointmentCancelledV1,
    AppointmentExpiredV1,
    AppointmentHeldV1,
    AppointmentNoShowV1,
)
from contracts.testing import example_payload
from notify.adapters.rendering import Rendered, TemplateRenderer
from notify.domain import rules

STARTS = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
PRICE = {"amount": 350000, "currency": "RUB"}
FREE = {"amount": 0, "currency": "RUB"}
NOTHING = {"amount": 0, "currency": "RUB"}

# Words that speak of money, by language (lower case).
MONEY_WORDS = {
    "ru": ("возвр", "оплат", "₽", "деньг"),
    "en": ("refund", "payment", "paid", "rub", "money"),
}

renderer = TemplateRenderer(app_url="https://app.example", bot_url="https://t.me/bot")


def facts(model: type[Any], *, price: dict[str, Any], **fields: Any) -> Any:
    return example_payload(
        model,
        appointment_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        service_name="Консультация",
        specialist_name="Ольга",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=50),
        price=price,
        **fields,
    )


def render(template: str, context: dict[str, Any], language: str) -> Rendered:
    return renderer.render(template, context, language=language, zone="Europe/Moscow")


def visible(rendered: Rendered) -> str:
    """Everything a user can read: the subject, the email text, the Telegram message."""
    return "\n".join([rendered.subject, rendered.text, rendered.telegram]).lower()


def says_nothing_about_money(rendered: Rendered, language: str) -> None:
    text = visible(rendered)
    spoken = [w for w in MONEY_WORDS[language] if w in text]
    assert not spoken, f"{spoken} in:\n{text}"


def cancelled(
    *, price: dict[str, Any], paid: bool, by: str, percent: int, refund: dict[str, Any]
) -> dict[str, Any]:
    p = facts(
        AppointmentCancelledV1,
        price=price,
        previous_status="confirmed" if paid else "held",
        cancelled_by=by,
        late_cancellation=by == "client" and percent == 0,
        refund_percent=percent,
        refund_amount=refund,
        payment_id=uuid.uuid4() if paid else None,
        refund_id=uuid.uuid4() if refund["amount"] else None,
    )
    notice, edit = rules.appointment_cancelled(p)
    assert dict(notice.context) == dict(edit.context)
    return dict(notice.context)


# -- cancellation (email and Telegram message, and the edit of earlier Telegram messages) -----

CANCELLATION_TEMPLATES = ("appointment_cancelled", "edit_cancelled")


@pytest.mark.parametrize("template", CANCELLATION_TEMPLATES)
def test_paid_cancellation_in_time_names_the_refund(template: str) -> None:
    context = cancelled(price=PRICE, paid=True, by="client", percent=50, refund={"amount": 175000})
    ru = render(template, context, "ru")
    en = render(template, context, "en")
    assert "Возврат 50 %: 1\u00a0750,00\u00a0₽" in ru.telegram
    assert "Refund 50 %: RUB 1,750.00" in en.telegram
    if template == "appointment_cancelled":
        assert "Мы вернём 50 % оплаты: 1\u00a0750,00\u00a0₽" in ru.text
        assert "We will refund 50 % of the payment: RUB 1,750.00" in en.text


@pytest.mark.parametrize("template", CANCELLATION_TEMPLATES)
def test_paid_late_cancellation_says_the_payment_is_kept(template: str) -> None:
    context = cancelled(price=PRICE, paid=True, by="client", percent=0, refund=NOTHING)
    ru = render(template, context, "ru")
    en = render(template, context, "en")
    assert "оплата не возвращается" in ru.telegram
    assert "no refund" in en.telegram
    assert "0,00" not in visible(ru) and "0.00" not in visible(en)
    if template == "appointment_cancelled":
        assert "оплата не возвращается" in ru.text and "not refunded" in en.text


@pytest.mark.parametrize("template", CANCELLATION_TEMPLATES)
@pytest.mark.parametrize("by", ["client", "specialist", "admin"])
@pytest.mark.parametrize("language", ["ru", "en"])
def test_unpaid_cancellation_says_nothing_about_money(
    template: str, by: str, language: str
) -> None:
    # booking still reports its policy's percent (100 for a specialist, 0 late for a client)
    percent = 0 if by == "client" else 100
    context = cancelled(price=PRICE, paid=False, by=by, percent=percent, refund=NOTHING)
    rendered = render(template, context, language)
    says_nothing_about_money(rendered, language)
    assert "Консультация" in rendered.telegram


@pytest.mark.parametrize("template", CANCELLATION_TEMPLATES)
@pytest.mark.parametrize("by", ["client", "specialist"])
@pytest.mark.parametrize("language", ["ru", "en"])
def test_free_cancellation_says_nothing_about_money(template: str, by: str, language: str) -> None:
    percent = 0 if by == "client" else 100
    context = cancelled(price=FREE, paid=False, by=by, percent=percent, refund=NOTHING)
    says_nothing_about_money(render(template, context, language), language)


# -- no-show: the policy, and money only when money was paid ------------------------------


def no_show(price: dict[str, Any], amount_paid: dict[str, Any] | None) -> dict[str, Any]:
    p = facts(AppointmentNoShowV1, price=price, marked_by_user_id=uuid.uuid4())
    return dict(rules.appointment_no_show(p, amount_paid=amount_paid).context)


def test_paid_no_show_says_the_payment_is_kept() -> None:
    context = no_show(PRICE, PRICE)
    ru = render("appointment_no_show", context, "ru")
    en = render("appointment_no_show", context, "en")
    assert ru.subject == "Пропущенная встреча: пятница, 15 марта 2030, 12:00"
    assert "вы не пришли на встречу: Консультация, пятница, 15 марта 2030, 12:00" in ru.text
    assert "оплата пропущенной встречи не возвращается (3\u00a0500,00\u00a0₽)" in ru.text
    assert "a missed session is not refunded (RUB 3,500.00)" in en.text
    assert "отмените или перенесите запись заранее" in ru.text
    assert "cancel or reschedule in advance" in en.text


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize(
    ("price", "amount_paid"),
    [(PRICE, None), (FREE, None), (FREE, FREE)],
    ids=["unpaid", "free", "free-confirmed"],
)
def test_unpaid_or_free_no_show_says_nothing_about_money(
    language: str, price: dict[str, Any], amount_paid: dict[str, Any] | None
) -> None:
    rendered = render("appointment_no_show", no_show(price, amount_paid), language)
    says_nothing_about_money(rendered, language)
    assert "/appointments" in rendered.text  # the policy's next step is still there


# -- holds: a free session has no price to pay; an expired free hold was not "unpaid" -------


def test_held_free_session_has_no_price_and_paid_one_has_it() -> None:
    free = facts(
        AppointmentHeldV1,
        price=FREE,
        hold_expires_at=STARTS - timedelta(days=1),
        prepayment_required=False,
        payment_id=None,
        confirmation_url=None,
    )
    notice, _ = rules.appointment_held(free)
    ru = render("appointment_held", dict(notice.context), "ru")
    en = render("appointment_held", dict(notice.context), "en")
    assert "Стоимость: бесплатно" in ru.text and "Price: free" in en.text
    assert "0,00" not in visible(ru) and "0.00" not in visible(en)
    paid = facts(
        AppointmentHeldV1,
        price=PRICE,
        hold_expires_at=STARTS - timedelta(days=1),
        prepayment_required=True,
        confirmation_url="https://pay.example/1",
    )
    notice, _ = rules.appointment_held(paid)
    assert (
        "Стоимость: 3\u00a0500,00\u00a0₽" in render("appointment_held", notice.context, "ru").text
    )


def test_expired_hold_says_unpaid_only_when_there_was_a_payment() -> None:
    with_payment = facts(
        AppointmentExpiredV1, price=PRICE, hold_expires_at=STARTS, payment_id=uuid.uuid4()
    )
    without = facts(AppointmentExpiredV1, price=FREE, hold_expires_at=STARTS, payment_id=None)
    paid_notice, _ = rules.appointment_expired(with_payment)
    free_notice, _ = rules.appointment_expired(without)
    assert (
        "не была оплачена вовремя" in render("appointment_expired", paid_notice.context, "ru").text
    )
    assert "was not paid in time" in render("appointment_expired", paid_notice.context, "en").text
    for language in ("ru", "en"):
        says_nothing_about_money(
            render("appointment_expired", free_notice.context, language), language
        )
