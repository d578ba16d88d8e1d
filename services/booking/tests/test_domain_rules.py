"""booking's pure rules without I/O: session lengths and prepayment, ``Idempotency-Key``
replays, which payment a client sees, who may be a specialist and give which services, the
refusal of each unbookable start and of a reschedule, and which appointments count as sessions
for the intake form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from booking.domain.appointments import OCCUPYING, SESSIONS, Status
from booking.domain.catalog import PrepaymentOfFreeService, check_prepayment, session_length
from booking.domain.idempotency import (
    EarlierRequest,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    Replay,
    RequestInProgress,
    check_key,
    fingerprint,
    replay_of,
)
from booking.domain.payments import FINAL_PAYMENT, OPEN_PAYMENT, shown_order
from booking.domain.people import (
    ForeignService,
    KnownUser,
    NotASpecialist,
    UnknownServices,
    UnknownUser,
    check_services_given,
    ensure_specialist,
)
from booking.domain.policies import (
    RescheduleLimitReached,
    RescheduleTooLate,
    ensure_reschedulable,
)
from booking.domain.schedule import Schedule, WallInterval, parse_wall_time
from booking.domain.slots import (
    BeyondHorizon,
    Booked,
    DayFull,
    DuringTimeOff,
    NoticeTooShort,
    OutsideWorkingHours,
    SlotPolicy,
    SlotTaken,
    ensure_bookable,
)
from servicekit.errors import DomainError

NOW = datetime(2026, 3, 16, 6, 0, tzinfo=UTC)  # 09:00 in Moscow, a Monday
H = timedelta(hours=1)


# -- catalog --------------------------------------------------------------------------------


def test_a_session_lasts_what_is_asked_or_the_services_first_length() -> None:
    assert session_length([50, 80], None) == 50
    assert session_length([50, 80], 80) == 80
    assert session_length([50, 80], 60) is None


def test_a_free_service_cannot_require_prepayment() -> None:
    check_prepayment(price_amount=0, prepayment_required=False)
    check_prepayment(price_amount=100, prepayment_required=True)
    with pytest.raises(PrepaymentOfFreeService):
        check_prepayment(price_amount=0, prepayment_required=True)


# -- Idempotency-Key ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "tab\there"])
def test_a_key_is_one_to_255_printable_ascii_characters(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        check_key(key)


def test_a_good_key_passes_and_the_fingerprint_ignores_key_order() -> None:
    assert check_key("k-1") == "k-1"
    assert fingerprint("op", {"a": 1, "b": 2}) == fingerprint("op", {"b": 2, "a": 1})
    assert fingerprint("op", {"a": 1}) != fingerprint("other", {"a": 1})


ANSWERED = EarlierRequest("appointments.create", "abc", NOW, 201, {"id": "1"})
DAY = timedelta(hours=24)


def test_a_repeat_gets_the_first_answer_within_the_ttl_and_is_new_after_it() -> None:
    def repeat(at: datetime) -> Replay | None:
        return replay_of(ANSWERED, operation="appointments.create", digest="abc", now=at, ttl=DAY)

    assert repeat(NOW + H) == Replay(201, {"id": "1"})
    assert repeat(NOW + DAY) is None


def test_a_key_reused_for_another_request_or_still_running_is_refused() -> None:
    with pytest.raises(IdempotencyKeyReused):
        replay_of(ANSWERED, operation="appointments.create", digest="xyz", now=NOW, ttl=DAY)
    with pytest.raises(IdempotencyKeyReused):
        replay_of(ANSWERED, operation="waitlist.accept:1", digest="abc", now=NOW, ttl=DAY)
    running = EarlierRequest("appointments.create", "abc", NOW, None, None)
    with pytest.raises(RequestInProgress):
        replay_of(running, operation="appointments.create", digest="abc", now=NOW, ttl=DAY)


# -- payments -------------------------------------------------------------------------------


def test_of_two_payments_made_at_once_the_client_sees_the_one_further_along() -> None:
    payments = [("succeeded", NOW), ("canceled", NOW), ("pending", NOW), ("not_created", NOW)]
    latest = sorted(payments, key=lambda p: shown_order(p[1], p[0]))[-1]
    assert latest[0] == "succeeded"
    later = sorted(
        [("succeeded", NOW), ("pending", NOW + H)], key=lambda p: shown_order(p[1], p[0])
    )
    assert later[-1][0] == "pending"  # a later payment wins whatever its status
    assert not set(OPEN_PAYMENT) & set(FINAL_PAYMENT)


# -- people ---------------------------------------------------------------------------------


def test_only_a_known_user_holding_the_role_may_be_a_specialist() -> None:
    user_id = uuid.uuid4()
    with pytest.raises(UnknownUser):
        ensure_specialist(None)
    with pytest.raises(NotASpecialist):
        ensure_specialist(KnownUser(user_id, ("client",), True))
    holder = KnownUser(user_id, ("client", "specialist"), True)
    assert ensure_specialist(holder) is holder


def test_a_specialist_gives_existing_services_of_their_own_or_shared_ones() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    mine, shared, theirs, missing = (uuid.uuid4() for _ in range(4))
    owners = {mine: me, shared: None, theirs: other}
    check_services_given(me, [mine, shared], owners)
    with pytest.raises(UnknownServices) as unknown:
        check_services_given(me, [mine, missing], owners)
    assert unknown.value.missing == [missing]
    with pytest.raises(ForeignService) as foreign:
        check_services_given(me, [shared, theirs], owners)
    assert foreign.value.foreign == [theirs]


# -- slots and reschedules ------------------------------------------------------------------


def _moscow_9_to_18() -> Schedule:
    hours = (WallInterval(parse_wall_time("09:00"), parse_wall_time("18:00")),)
    return Schedule(
        zone=ZoneInfo("Europe/Moscow"),
        weekly={d: hours for d in range(1, 8)},
        time_off=[(NOW + 30 * H, NOW + 33 * H)],
        daily_cap=None,
    )


POLICY = SlotPolicy(
    duration=50 * timedelta(minutes=1),
    buffer_after=10 * timedelta(minutes=1),
    min_notice=2 * H,
    horizon=timedelta(days=30),
    step=H,
)


@pytest.mark.parametrize(
    ("start", "refusal"),
    [
        (NOW + H, NoticeTooShort),
        (NOW + timedelta(days=40), BeyondHorizon),
        (NOW + 3 * H + timedelta(minutes=30), OutsideWorkingHours),
        (NOW + 31 * H, DuringTimeOff),
        (NOW + 4 * H, SlotTaken),
    ],
)
def test_each_unbookable_start_is_refused_with_its_reason(
    start: datetime, refusal: type[DomainError]
) -> None:
    booked = [Booked(NOW + 4 * H, NOW + 4 * H, NOW + 5 * H)]
    with pytest.raises(refusal):
        ensure_bookable(_moscow_9_to_18(), POLICY, booked, now=NOW, start=start)
    ensure_bookable(_moscow_9_to_18(), POLICY, booked, now=NOW, start=NOW + 5 * H)


def test_a_capped_day_refuses_as_full() -> None:
    schedule = _moscow_9_to_18()
    capped = Schedule(zone=schedule.zone, weekly=schedule.weekly, daily_cap=1)
    booked = [Booked(NOW + 4 * H, NOW + 4 * H, NOW + 5 * H)]
    with pytest.raises(DayFull):
        ensure_bookable(capped, POLICY, booked, now=NOW, start=NOW + 6 * H)


def test_a_reschedule_refusal_says_which_limit_binds_and_binds_clients_only() -> None:
    def move(notice: timedelta, count: int, *, by_client: bool = True) -> None:
        ensure_reschedulable(
            notice=notice, count=count, min_notice=DAY, max_count=2, by_client=by_client
        )

    move(25 * H, 1)
    with pytest.raises(RescheduleLimitReached):
        move(25 * H, 2)
    with pytest.raises(RescheduleTooLate):
        move(23 * H, 0)
    move(H, 5, by_client=False)


# -- intake ---------------------------------------------------------------------------------


def test_sessions_for_the_intake_rule_are_occupying_appointments_past_their_hold() -> None:
    assert SESSIONS < OCCUPYING
    assert Status.HELD not in SESSIONS  # an unpaid hold is not a session yet
    assert {Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW} == SESSIONS
