"""notify.domain.rules: which event produces which message, to whom, how urgent, with which
buttons; and which messages have an email form. Pure: events in, notices and edits out (the
end-to-end path of each rule, through RabbitMQ to the mail, is in test_rules.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentCancelledV1,
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    PaymentFailedV1,
    RefundFailedV1,
    WaitlistOfferMadeV1,
)
from contracts.cabinet.v1 import PasswordResetRequestedV1
from contracts.content.v1 import InteractiveRunCompletedV1, ItemPublishedV1
from contracts.testing import example_payload
from notify.domain import rules

STARTS = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
CLIENT, APPOINTMENT = uuid.uuid4(), uuid.uuid4()


def appointment(model: type[Any], **fields: Any) -> Any:
    return example_payload(
        model,
        appointment_id=APPOINTMENT,
        client_id=CLIENT,
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=50),
        **fields,
    )


def test_a_hold_asks_the_client_to_pay_at_once_with_a_pay_button() -> None:
    held = appointment(
        AppointmentHeldV1,
        hold_expires_at=STARTS,
        prepayment_required=True,
        confirmation_url="https://pay.example/1",
        waitlist_offer_id=None,
    )
    notice, edits = rules.appointment_held(held)
    assert (notice.template, notice.user_id, notice.urgent) == ("appointment_held", CLIENT, True)
    assert notice.ref == rules.appointment_ref(APPOINTMENT) == f"appointment:{APPOINTMENT}"
    assert notice.buttons == (rules.Button("pay", url="https://pay.example/1"),)
    assert notice.context["confirmation_url"] == "https://pay.example/1"
    assert edits == []


def test_a_hold_from_a_waitlist_offer_edits_the_offers_message() -> None:
    offer = uuid.uuid4()
    held = appointment(
        AppointmentHeldV1,
        hold_expires_at=STARTS,
        prepayment_required=False,
        confirmation_url=None,
        waitlist_offer_id=offer,
    )
    notice, (edit,) = rules.appointment_held(held)
    assert notice.buttons == ()
    assert (edit.template, edit.ref) == ("edit_offer_accepted", rules.offer_ref(offer))


def test_a_confirmation_is_not_urgent_and_goes_on_any_channel() -> None:
    notice = rules.appointment_confirmed(appointment(AppointmentConfirmedV1, amount_paid=None))
    assert (notice.category, notice.urgent, notice.channels) == ("transactional", False, None)


def test_a_cancellation_tells_the_client_and_retires_earlier_buttons() -> None:
    notice, edit = rules.appointment_cancelled(
        appointment(
            AppointmentCancelledV1,
            previous_status="confirmed",
            cancelled_by="client",
            late_cancellation=False,
            refund_percent=100,
        )
    )
    assert notice.template == "appointment_cancelled" and edit.template == "edit_cancelled"
    assert notice.ref == edit.ref == rules.appointment_ref(APPOINTMENT)


@pytest.mark.parametrize(
    ("paid", "named"),
    [
        ({"amount": 350000, "currency": "RUB"}, {"amount": 350000, "currency": "RUB"}),
        ({"amount": 0, "currency": "RUB"}, None),  # a free session says nothing of money
        (None, None),  # notify never saw a payment
    ],
)
def test_a_no_show_names_the_payment_only_when_there_was_one(
    paid: dict[str, Any] | None, named: dict[str, Any] | None
) -> None:
    notice = rules.appointment_no_show(appointment(AppointmentNoShowV1), amount_paid=paid)
    assert notice.context["amount_paid"] == named


def test_a_declined_payment_is_urgent_only_while_the_hold_is_open() -> None:
    open_hold = example_payload(PaymentFailedV1, client_id=CLIENT, hold_expires_at=STARTS)
    ended = example_payload(PaymentFailedV1, client_id=CLIENT, hold_expires_at=None)
    assert rules.payment_failed(open_hold).urgent
    assert not rules.payment_failed(ended).urgent


def test_account_mail_goes_by_email_only_and_at_once() -> None:
    reset = rules.password_reset(example_payload(PasswordResetRequestedV1, user_id=CLIENT))
    assert (reset.channels, reset.urgent) == (rules.EMAIL_ONLY, True)


def test_a_failing_refund_is_an_alert_to_an_admin() -> None:
    admin = uuid.uuid4()
    notice = rules.refund_failed(
        example_payload(RefundFailedV1, client_id=CLIENT), admin_id=admin, client_name="Иван"
    )
    assert (notice.user_id, notice.category, notice.urgent) == (admin, "alert", True)
    assert notice.context["client_name"] == "Иван"


def test_a_waitlist_offer_has_an_accept_button_bound_to_the_offer() -> None:
    offer = example_payload(WaitlistOfferMadeV1, client_id=CLIENT)
    notice = rules.waitlist_offer(offer, telegram_link="https://t.me/bot?start=x")
    (button,) = notice.buttons
    assert (button.action, button.waitlist_offer_id) == ("accept_waitlist_offer", offer.offer_id)
    assert notice.context["telegram_link"] == "https://t.me/bot?start=x" and notice.urgent


def test_a_rejected_action_edits_the_tapped_message() -> None:
    rejected = example_payload(ActionRejectedV1)
    edit = rules.action_rejected(rejected)
    assert (edit.template, edit.action_id, edit.ref) == (
        "edit_action_rejected",
        rejected.action_id,
        None,
    )


def test_a_reminder_asks_to_confirm_or_cancel() -> None:
    facts = {"appointment_id": str(APPOINTMENT), "client_id": str(CLIENT), "x": 1}
    notice = rules.reminder(facts, minutes_before=60)
    assert notice.user_id == CLIENT and notice.urgent
    assert notice.context == {**facts, "minutes_before": 60}
    assert [(b.label, b.action, b.appointment_id) for b in notice.buttons] == [
        ("confirm", "confirm_attendance", APPOINTMENT),
        ("cancel", "cancel_appointment", APPOINTMENT),
    ]


def test_a_crisis_alert_names_the_client_not_the_answers() -> None:
    specialist = uuid.uuid4()
    run = example_payload(
        InteractiveRunCompletedV1, user_id=CLIENT, crisis=True, score=21, band="severe"
    )
    notice = rules.crisis_alert(run, specialist_id=specialist, client_name="Иван")
    assert notice is not None
    assert (notice.user_id, notice.category, notice.urgent) == (specialist, "alert", True)
    assert notice.context["client_name"] == "Иван"
    assert not {"score", "band", "crisis_reasons"} & notice.context.keys()
    calm = example_payload(InteractiveRunCompletedV1, crisis=False)
    assert rules.crisis_alert(calm, specialist_id=specialist, client_name=None) is None


def test_who_hears_of_a_crisis() -> None:
    assigned, latest, admins = uuid.uuid4(), uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    assert rules.crisis_recipients(
        assigned_by=assigned, latest_specialist=latest, admins=admins
    ) == [assigned]
    assert rules.crisis_recipients(assigned_by=None, latest_specialist=latest, admins=admins) == [
        latest
    ]
    assert (
        rules.crisis_recipients(assigned_by=None, latest_specialist=None, admins=admins) == admins
    )
    assert rules.crisis_recipients(assigned_by=None, latest_specialist=None, admins=[]) == []


@pytest.mark.parametrize(
    ("kind", "first", "announced"),
    [("article", True, True), ("article", False, False), ("resource", True, False)],
)
def test_only_a_first_published_article_is_news(kind: str, first: bool, announced: bool) -> None:
    item = example_payload(ItemPublishedV1, kind=kind, first_publication=first)
    notice = rules.new_article(item, CLIENT)
    assert (notice is not None) is announced
    if notice is not None:
        assert notice.category == "marketing" and not notice.urgent


@pytest.mark.parametrize(
    ("template", "is_edit", "by_email"),
    [
        ("appointment_confirmed", False, True),
        ("appointment_confirmed", True, False),  # an edit exists only in the chat
        ("bot_hello", False, False),  # a bot reply too
        ("edit_cancelled", False, False),
    ],
)
def test_which_messages_have_an_email_form(template: str, is_edit: bool, by_email: bool) -> None:
    assert rules.has_email_form(template, is_edit=is_edit) is by_email
