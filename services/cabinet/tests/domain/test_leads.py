"""cabinet.domain.leads: attribution (first touch kept, last non-direct touch), merging,
who sets which status, the funnel's arithmetic. Pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cabinet.domain.leads import (
    FunnelLead,
    StatusNotAllowed,
    Touch,
    funnel,
    last_touch_after,
    merged_touches,
    revenue_in_first_90_days,
    status_change_allowed,
)

T0 = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)
AD = Touch("telegram", T0, source="vk", campaign="autumn", campaign_id=uuid.uuid4())


def test_the_last_touch_is_the_latest_that_names_a_source() -> None:
    later = Touch("registration", T0 + timedelta(days=1), source="instagram", campaign="spring")
    direct = Touch("booking", T0 + timedelta(days=2))
    older = Touch("web", T0 - timedelta(days=1), source="google")
    assert last_touch_after(AD, later) == later
    assert last_touch_after(later, direct) == later  # a direct touch takes no credit
    assert last_touch_after(AD, older) == AD  # an older touch arriving late does not win
    assert last_touch_after(Touch("booking", T0), older) == older  # over a direct one it does


def test_merged_leads_keep_the_earliest_first_and_the_latest_attributed_last_touch() -> None:
    registered = Touch("registration", T0 + timedelta(hours=5), source="instagram")
    booked = Touch("booking", T0 + timedelta(hours=9))
    first, last = merged_touches([registered, AD], [booked, registered, AD])
    assert first == AD and last == registered


@pytest.mark.parametrize(
    ("current", "new"), [("new", "contacted"), ("contacted", "lost"), ("lost", "new")]
)
def test_the_practice_moves_leads_but_never_to_or_from_converted(current: str, new: str) -> None:
    status_change_allowed(current, new)
    with pytest.raises(StatusNotAllowed):
        status_change_allowed(current, "converted")
    with pytest.raises(StatusNotAllowed):
        status_change_allowed("converted", new)


def test_revenue_counts_90_days_from_the_first_booking_of_converted_leads_only() -> None:
    booked = T0 + timedelta(days=1)
    payments = (
        (booked, 300000),
        (booked + timedelta(days=89, hours=23), 100000),
        (booked + timedelta(days=90), 700000),
        (booked + timedelta(days=3), -50000),
    )
    converted = FunnelLead("vk", "autumn", T0, booked, booked + timedelta(days=2), payments)
    assert revenue_in_first_90_days(converted) == 350000
    not_yet = FunnelLead("vk", "autumn", T0, booked, None, payments)
    assert revenue_in_first_90_days(not_yet) == 0


def test_the_funnel_counts_each_lead_once_under_its_first_touch() -> None:
    h = timedelta(hours=1)
    leads = [
        FunnelLead("vk", "autumn", T0, T0 + h, T0 + 10 * h, ((T0 + h, 100),)),
        FunnelLead("vk", "autumn", T0, T0 + h, T0 + 30 * h, ((T0 + h, 200),)),
        FunnelLead("vk", "autumn", T0, None, None),
        FunnelLead(None, None, T0, T0 + h, None),
    ]
    rows, total = funnel(leads)
    assert [(r.source, r.campaign) for r in rows] == [("(direct)", "(direct)"), ("vk", "autumn")]
    vk = rows[1]
    assert (vk.leads, vk.booked, vk.converted, vk.revenue_90d) == (3, 2, 2, 300)
    assert vk.median_hours_to_convert == 20.0 and vk.conversion_rate == 0.6667
    assert (total.leads, total.booked, total.converted) == (4, 3, 2)
    assert rows[0].median_hours_to_convert is None and rows[0].booking_rate == 1.0
