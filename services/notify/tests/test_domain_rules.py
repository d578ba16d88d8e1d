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
from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    InteractiveRunCompletedV1,
    ItemPublishedV1,
)
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


def test_a_crisis_alert_names_the_client_and_links_the_run_not_the_answers() -> None:
    specialist = uuid.uuid4()
    run = example_payload(
        InteractiveRunCompletedV1, user_id=CLIENT, crisis=True, score=21, band="severe"
    )
    url = f"https://praktika.example/api/content/runs/{run.run_id}"
    notice = rules.crisis_alert(run, recipient_id=specialist, client_name="Иван", run_url=url)
    assert notice is not None
    assert (notice.user_id, notice.category, notice.urgent) == (specialist, "alert", True)
    assert notice.context["client_name"] == "Иван"
    assert notice.context["run_url"] == url
    assert notice.context["completed_at"] == run.completed_at.isoformat()
    assert not {"score", "band", "crisis_reasons", "max_score"} & notice.context.keys()
    calm = example_payload(InteractiveRunCompletedV1, crisis=False)
    assert rules.crisis_alert(calm, recipient_id=specialist, client_name=None, run_url=url) is None


def test_an_escalation_carries_the_alerts_facts_and_why() -> None:
    admin = uuid.uuid4()
    facts = {"client_id": "c", "run_url": "u", "score": 21, "answers": {"q9": "x"}}
    notice = rules.crisis_escalation(
        facts, admin_id=admin, told_name="Анна", channel="telegram", reason="failed"
    )
    assert (notice.template, notice.user_id, notice.category, notice.urgent) == (
        "crisis_escalation",
        admin,
        "alert",
        True,
    )
    assert notice.context["run_url"] == "u" and notice.context["told_name"] == "Анна"
    assert "score" not in notice.context and "answers" not in notice.context


def test_an_intake_suggestion_is_a_booking_link_without_the_score() -> None:
    run = example_payload(InteractiveRunCompletedV1, user_id=CLIENT, suggest_intake=True, score=14)
    notice = rules.intake_suggested(run, booking_url="https://x.example/booking")
    assert (notice.user_id, notice.category, notice.urgent) == (CLIENT, "transactional", False)
    assert [(b.label, b.url) for b in notice.buttons] == [("book", "https://x.example/booking")]
    assert not {"score", "band"} & notice.context.keys()


def test_assignment_messages_go_to_the_client_and_when_overdue_the_specialist_too() -> None:
    created = example_payload(AssignmentCreatedV1, client_id=CLIENT)
    notice = rules.assignment_created(created, specialist_name="Анна", take_url="https://t")
    assert (notice.template, notice.user_id) == ("assignment_created", CLIENT)
    assert (notice.context["specialist_name"], notice.context["take_url"]) == ("Анна", "https://t")
    assert notice.ref == f"assignment:{created.assignment_id}"
    assert [(b.label, b.url) for b in notice.buttons] == [("take", "https://t")]
    overdue = example_payload(AssignmentOverdueV1, client_id=CLIENT)
    to_client, to_specialist = rules.assignment_overdue(
        overdue, specialist_name="Анна", client_name="Иван", take_url="t", client_url="c"
    )
    assert (to_client.user_id, to_client.template) == (CLIENT, "assignment_overdue")
    assert (to_specialist.user_id, to_specialist.template) == (
        overdue.specialist_id,
        "assignment_overdue_specialist",
    )
    assert to_specialist.context["client_name"] == "Иван"


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
