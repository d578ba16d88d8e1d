"""Slot search as a pure function: hours, overrides, time off, buffers, caps, notice, horizon,
grid, and DST in Europe/Berlin (both changes) against Europe/Moscow (no DST)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from booking.domain.policies import (
    DEFAULT_TIERS,
    CancellationTier,
    RescheduleRefused,
    check_reschedule,
    check_tiers,
    refund_amount,
    refund_percent_for,
)
from booking.domain.schedule import DayOverride, Schedule, WallInterval, parse_wall_time
from booking.domain.slots import (
    Booked,
    SlotPolicy,
    Unavailable,
    check_slot,
    find_slots,
    open_starts,
)

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every_day(start: str, end: str) -> dict[int, tuple[WallInterval, ...]]:
    interval = WallInterval(parse_wall_time(start), parse_wall_time(end))
    return {d: (interval,) for d in range(1, 8)}


def hourly(**kw: object) -> SlotPolicy:
    base: dict[str, object] = {
        "duration": 50 * M,
        "buffer_after": 10 * M,
        "min_notice": timedelta(0),
        "horizon": timedelta(days=365),
        "step": H,
    }
    base.update(kw)
    return SlotPolicy(**base)  # type: ignore[arg-type]


def slots_on(schedule: Schedule, policy: SlotPolicy, day: date, **kw: object) -> list[datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=schedule.zone).astimezone(UTC)
    after = day + timedelta(days=1)  # the next local midnight: a DST day is 23 or 25 hours
    end = datetime(after.year, after.month, after.day, tzinfo=schedule.zone).astimezone(UTC)
    return find_slots(
        schedule,
        policy,
        kw.pop("booked", []),  # type: ignore[arg-type]
        now=kw.pop("now", utc(2026, 1, 1)),  # type: ignore[arg-type]
        window_from=start,
        window_to=end,
    )


def local_hours(slots: list[datetime], zone: ZoneInfo) -> list[str]:
    return [s.astimezone(zone).strftime("%H:%M%z") for s in slots]


def test_working_hours_and_the_grid() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("09:00", "13:00"))
    got = slots_on(schedule, hourly(), date(2026, 3, 16))
    assert local_hours(got, MOSCOW) == ["09:00+0300", "10:00+0300", "11:00+0300", "12:00+0300"]
    assert got[0] == utc(2026, 3, 16, 6)
    # A 30-minute step; a 50-minute session must still end by 13:00.
    half = slots_on(schedule, hourly(step=30 * M), date(2026, 3, 16))
    assert local_hours(half, MOSCOW)[-2:] == ["11:30+0300", "12:00+0300"]
    # Step defaults to the session length.
    default = slots_on(schedule, hourly(step=None, duration=60 * M), date(2026, 3, 16))
    assert len(default) == 4


def test_moscow_has_no_dst_offset_is_always_plus_three() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("09:00", "10:00"))
    for day in (date(2026, 3, 28), date(2026, 3, 30), date(2026, 10, 24), date(2026, 10, 26)):
        (only,) = slots_on(schedule, hourly(), day)
        assert only == datetime(day.year, day.month, day.day, 6, tzinfo=UTC)


def test_berlin_spring_forward_moves_utc_instants_and_shortens_the_night() -> None:
    day_hours = Schedule(zone=BERLIN, weekly=every_day("09:00", "11:00"))
    before = slots_on(day_hours, hourly(), date(2026, 3, 28))
    after = slots_on(day_hours, hourly(), date(2026, 3, 30))
    assert before == [utc(2026, 3, 28, 8), utc(2026, 3, 28, 9)]  # CET, +01:00
    assert after == [utc(2026, 3, 30, 7), utc(2026, 3, 30, 8)]  # CEST, +02:00
    assert local_hours(after, BERLIN) == ["09:00+0200", "10:00+0200"]

    # A night shift 00:00–06:00 on the change night is five real hours: 02:xx does not exist.
    night = Schedule(zone=BERLIN, weekly=every_day("00:00", "06:00"))
    got = slots_on(night, hourly(), date(2026, 3, 29))
    assert local_hours(got, BERLIN) == [
        "00:00+0100",
        "01:00+0100",
        "03:00+0200",
        "04:00+0200",
        "05:00+0200",
    ]
    assert all(b - a == H for a, b in itertools.pairwise(got))


def test_berlin_fall_back_lengthens_the_night_and_keeps_both_two_oclocks() -> None:
    night = Schedule(zone=BERLIN, weekly=every_day("00:00", "06:00"))
    got = slots_on(night, hourly(), date(2026, 10, 25))
    assert local_hours(got, BERLIN) == [
        "00:00+0200",
        "01:00+0200",
        "02:00+0200",
        "02:00+0100",
        "03:00+0100",
        "04:00+0100",
        "05:00+0100",
    ]
    assert len(set(got)) == 7
    day_hours = Schedule(zone=BERLIN, weekly=every_day("09:00", "10:00"))
    assert slots_on(day_hours, hourly(), date(2026, 10, 24)) == [utc(2026, 10, 24, 7)]
    assert slots_on(day_hours, hourly(), date(2026, 10, 26)) == [utc(2026, 10, 26, 8)]


def test_hours_starting_inside_the_gap_begin_after_it() -> None:
    schedule = Schedule(zone=BERLIN, weekly=every_day("02:30", "05:00"))
    got = slots_on(
        schedule, hourly(step=30 * M, duration=30 * M, buffer_after=0 * M), date(2026, 3, 29)
    )
    # 02:30 does not exist that night; the period begins at 03:30 CEST.
    assert local_hours(got, BERLIN)[0] == "03:30+0200"


def test_both_neighbours_buffers_count() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("09:00", "18:00"))
    policy = hourly(buffer_before=15 * M, buffer_after=10 * M, step=5 * M)
    # Existing session 12:00–12:50 MSK with 15 min before and 10 min after: 11:45–13:00.
    existing = Booked(utc(2026, 3, 16, 9), utc(2026, 3, 16, 8, 45), utc(2026, 3, 16, 10))
    got = slots_on(schedule, policy, date(2026, 3, 16), booked=[existing])
    hours = local_hours(got, MOSCOW)
    # A new session needs its own 15 min before after the existing 10 min after: 13:15.
    assert "13:10+0300" not in hours and "13:15+0300" in hours
    # Before it: the new one's 10 min after must end by 11:45, so it starts by 10:45.
    assert "10:45+0300" in hours and "10:50+0300" not in hours
    assert (
        check_slot(schedule, policy, [existing], now=utc(2026, 1, 1), start=utc(2026, 3, 16, 7, 50))
        is Unavailable.SLOT_TAKEN
    )


def test_time_off_overrides_and_caps() -> None:
    monday = date(2026, 3, 16)
    schedule = Schedule(
        zone=MOSCOW,
        weekly=every_day("09:00", "13:00"),
        time_off=[(utc(2026, 3, 16, 7), utc(2026, 3, 16, 8))],  # 10:00–11:00 MSK
        overrides={
            date(2026, 3, 17): DayOverride(hours=()),
            date(2026, 3, 18): DayOverride(hours=(WallInterval(14 * 60, 16 * 60),)),
            date(2026, 3, 19): DayOverride(daily_cap=1),
        },
        daily_cap=2,
    )
    assert local_hours(slots_on(schedule, hourly(), monday), MOSCOW) == [
        "09:00+0300",
        "11:00+0300",
        "12:00+0300",
    ]
    assert slots_on(schedule, hourly(), date(2026, 3, 17)) == []
    assert local_hours(slots_on(schedule, hourly(), date(2026, 3, 18)), MOSCOW) == [
        "14:00+0300",
        "15:00+0300",
    ]
    one = Booked(utc(2026, 3, 19, 6), utc(2026, 3, 19, 6), utc(2026, 3, 19, 7))
    assert slots_on(schedule, hourly(), date(2026, 3, 19), booked=[one]) == []  # cap 1 reached
    two = [
        one,
        Booked(utc(2026, 3, 20, 6), utc(2026, 3, 20, 6), utc(2026, 3, 20, 7)),
        Booked(utc(2026, 3, 20, 8), utc(2026, 3, 20, 8), utc(2026, 3, 20, 9)),
    ]
    assert slots_on(schedule, hourly(), date(2026, 3, 20), booked=two) == []  # weekly cap 2
    assert (
        check_slot(schedule, hourly(), two, now=utc(2026, 1, 1), start=utc(2026, 3, 20, 7))
        is Unavailable.DAY_FULL
    )
    assert (
        check_slot(schedule, hourly(), [], now=utc(2026, 1, 1), start=utc(2026, 3, 16, 7))
        is Unavailable.TIME_OFF
    )


def test_minimum_notice_and_horizon_edges_are_inclusive() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("09:00", "18:00"))
    now = utc(2026, 3, 16, 6)  # 09:00 MSK
    policy = hourly(min_notice=12 * H, horizon=timedelta(days=2))
    got = find_slots(
        schedule, policy, [], now=now, window_from=now, window_to=now + timedelta(days=5)
    )
    assert got[0] == utc(2026, 3, 17, 6)  # now + 12 h is 21:00 MSK, after hours: next 09:00
    assert got[-1] == now + timedelta(days=2)  # exactly the horizon: 09:00 two days on
    assert check_slot(schedule, policy, [], now=now, start=now + timedelta(days=2)) is None
    assert (
        check_slot(schedule, policy, [], now=now, start=now + timedelta(days=2) + H)
        is Unavailable.BEYOND_HORIZON
    )
    early = hourly(min_notice=3 * H)
    assert check_slot(schedule, early, [], now=now, start=now + 3 * H) is None
    assert check_slot(schedule, early, [], now=now, start=now + 2 * H) is (
        Unavailable.NOTICE_TOO_SHORT
    )
    assert find_slots(schedule, early, [], now=now, window_from=now, window_to=now + 4 * H) == [
        now + 3 * H
    ]


def test_check_slot_rejects_off_grid_and_out_of_hours() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("09:00", "18:00"))
    far = utc(2026, 1, 1)
    assert check_slot(schedule, hourly(), [], now=far, start=utc(2026, 3, 16, 6, 30)) is (
        Unavailable.OUTSIDE_WORKING_HOURS
    )
    assert check_slot(schedule, hourly(), [], now=far, start=utc(2026, 3, 16, 3)) is (
        Unavailable.OUTSIDE_WORKING_HOURS
    )
    # 17:00 fits (ends 17:50); the last grid point 17:00 + 1h would not.
    assert check_slot(schedule, hourly(), [], now=far, start=utc(2026, 3, 16, 14)) is None


def test_midnight_end_is_next_days_start() -> None:
    schedule = Schedule(zone=MOSCOW, weekly=every_day("22:00", "24:00"))
    got = slots_on(schedule, hourly(), date(2026, 3, 16))
    assert local_hours(got, MOSCOW) == ["22:00+0300", "23:00+0300"]


@pytest.mark.parametrize(
    ("notice", "percent"),
    [
        (timedelta(hours=48, seconds=1), 100),
        (timedelta(hours=48), 100),
        (timedelta(hours=48) - timedelta(seconds=1), 50),
        (timedelta(hours=24), 50),
        (timedelta(hours=24) - timedelta(seconds=1), 0),
        (timedelta(0), 0),
        (-timedelta(hours=1), 0),
    ],
)
def test_refund_tiers_at_their_boundaries(notice: timedelta, percent: int) -> None:
    assert refund_percent_for(notice, DEFAULT_TIERS) == percent


def test_refund_amount_never_exceeds_the_share() -> None:
    assert refund_amount(300000, 50) == 150000
    assert refund_amount(100001, 50) == 50000
    assert refund_amount(300000, 100) == 300000


def test_tiers_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="must not refund less"):
        check_tiers([CancellationTier(48 * H, 50), CancellationTier(24 * H, 100)])
    with pytest.raises(ValueError, match="same notice"):
        check_tiers([CancellationTier(48 * H, 50), CancellationTier(48 * H, 100)])


def test_reschedule_limits_bind_clients_only() -> None:
    rules = {"min_notice": 24 * H, "max_count": 2}
    assert check_reschedule(notice=25 * H, count=1, by_client=True, **rules) is None
    assert check_reschedule(notice=24 * H, count=0, by_client=True, **rules) is None
    assert check_reschedule(notice=23 * H, count=0, by_client=True, **rules) is (
        RescheduleRefused.TOO_LATE
    )
    assert check_reschedule(notice=48 * H, count=2, by_client=True, **rules) is (
        RescheduleRefused.TOO_MANY
    )
    assert check_reschedule(notice=H, count=5, by_client=False, **rules) is None


@pytest.mark.parametrize("seed", range(40))
def test_search_offers_exactly_the_starts_check_slot_accepts(seed: int) -> None:
    """The search's sweep and the booking check are two codings of one rule: on random
    schedules (Berlin across a DST change, overrides, caps, time off, bookings with buffers),
    every grid start in the window is offered exactly when the booking check would take it."""
    import random

    rnd = random.Random(seed)
    now = utc(2026, 3, 26, 5, 17)
    step = rnd.choice([15, 30, 60]) * M
    policy = hourly(
        duration=rnd.choice([30, 45, 50, 90]) * M,
        buffer_before=rnd.choice([0, 5, 15]) * M,
        buffer_after=rnd.choice([0, 10, 30]) * M,
        min_notice=rnd.choice([0, 3, 12]) * H,
        horizon=timedelta(days=rnd.choice([2, 5, 30])),
        step=step,
    )
    days = [date(2026, 3, 26) + timedelta(days=i) for i in range(6)]
    overrides = {
        d: DayOverride(
            hours=rnd.choice([None, (), (WallInterval(600, 720), WallInterval(780, 1440))]),
            daily_cap=rnd.choice([None, 1, 2]),
        )
        for d in rnd.sample(days, 2)
    }
    window_from, window_to = utc(2026, 3, 26), utc(2026, 4, 1)
    booked = []
    for _ in range(rnd.randint(0, 12)):
        start = window_from + rnd.randrange(0, 6 * 24 * 4) * 15 * M
        length = rnd.choice([30, 50, 90]) * M
        booked.append(Booked(start, start - 10 * M, start + length + 10 * M))
    time_off = []
    for _ in range(rnd.randint(0, 3)):
        start = window_from + rnd.randrange(0, 6 * 24 * 4) * 15 * M
        time_off.append((start, start + rnd.choice([1, 3, 26]) * H))
    schedule = Schedule(
        zone=BERLIN,
        weekly={d: (WallInterval(480, 720), WallInterval(750, 1200)) for d in range(1, 8)},
        overrides=overrides,
        time_off=time_off,
        daily_cap=rnd.choice([None, 3, 6]),
    )
    found = find_slots(
        schedule, policy, booked, now=now, window_from=window_from, window_to=window_to
    )
    assert found == sorted(set(found))
    candidate = window_from
    accepted = []
    while candidate < window_to:
        if check_slot(schedule, policy, booked, now=now, start=candidate) is None:
            accepted.append(candidate)
        candidate += 5 * M
    assert found == accepted
    # What slot search remembers — the starts left open whatever the time — cut to the notice
    # and horizon of any later moment is exactly that moment's search.
    left_open = open_starts(schedule, policy, booked, window_from=window_from, window_to=window_to)
    for later in [now] + [now + rnd.randrange(0, 7 * 24 * 60) * M for _ in range(5)]:
        first, last = policy.bookable_between(later)
        assert [s for s in left_open if first <= s <= last] == find_slots(
            schedule, policy, booked, now=later, window_from=window_from, window_to=window_to
        )


def test_overlapping_periods_offer_each_start_once_in_order() -> None:
    """The API refuses overlapping hours, but the search must not depend on it: a start that
    two periods share is offered once, and the answer stays in time order."""
    schedule = Schedule(
        zone=MOSCOW,
        weekly={d: (WallInterval(540, 780), WallInterval(720, 1080)) for d in range(1, 8)},
    )
    policy = hourly(duration=50 * M, buffer_after=10 * M, min_notice=0 * H, step=60 * M)
    found = find_slots(
        schedule,
        policy,
        [],
        now=utc(2026, 3, 16),
        window_from=utc(2026, 3, 17),
        window_to=utc(2026, 3, 18),
    )
    assert local_hours(found, MOSCOW) == [f"{h:02}:00+0300" for h in range(9, 18)]
