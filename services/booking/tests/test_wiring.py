"""The composition root gives every runtime its own parts: the practice's rules from its
settings, consumers and timer handlers made for it (nothing shared at module level), and a
handler for every call booking makes to YooKassa after a commit. No I/O."""

from __future__ import annotations

from datetime import timedelta

from booking.application import calendar
from booking.application.appointments import HOLD_EXPIRY
from booking.application.money import ProviderCall
from booking.application.practice import Practice
from booking.application.waitlist import OFFER_EXPIRY
from booking.bootstrap import BookingRuntime, build_runtime, definition
from booking.config import BookingSettings
from booking.entrypoints.consumers import booking_consumers
from booking.entrypoints.timers import PROVIDER_CALLS
from servicekit.testing import TokenMint


def runtime(**settings: object) -> BookingRuntime:
    return build_runtime(
        BookingSettings(environment="test", jwt_public_jwks=TokenMint().jwks_json, **settings)  # type: ignore[arg-type]
    )


async def test_each_runtime_holds_its_own_practice_and_consumers() -> None:
    quick, slow = runtime(hold_minutes=5), runtime(hold_minutes=20, waitlist_parallel_offers=1)
    try:
        assert quick.practice == Practice(hold_for=timedelta(minutes=5))
        assert slow.practice.hold_for == timedelta(minutes=20)
        assert slow.practice.parallel_offers == 1
        ours, theirs = quick.definition.consumers, slow.definition.consumers
        assert [c.queue_name for c in ours] == [c.queue_name for c in definition.consumers]
        assert not {id(c) for c in ours} & {id(c) for c in theirs}
        assert not {id(c) for c in ours} & {id(c) for c in definition.consumers}
    finally:
        await quick.gateway.client.aclose()
        await slow.gateway.client.aclose()


def test_consumers_are_made_anew_with_the_same_queues_and_events() -> None:
    first, second = booking_consumers(Practice()), booking_consumers(Practice())
    assert [c.queue_name for c in first] == [c.queue_name for c in second]
    assert [sorted(c.handlers) for c in first] == [sorted(c.handlers) for c in second]
    assert all(a is not b for a, b in zip(first, second, strict=True))


async def test_every_call_after_a_commit_and_every_timer_has_a_handler() -> None:
    assert set(PROVIDER_CALLS) == set(ProviderCall)
    booking = runtime()
    try:
        assert set(booking.definition.timers) == {
            HOLD_EXPIRY,
            OFFER_EXPIRY,
            *(call.value for call in ProviderCall),
            calendar.PUSH,
            calendar.SYNC,
            calendar.POLL,
        }
    finally:
        await booking.gateway.client.aclose()
        await booking.calendar.client.aclose()
