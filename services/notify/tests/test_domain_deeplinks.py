"""notify.domain.deeplinks: who may make which kind of deep link, whose it is, and whether an
opened one still works. Pure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from notify.domain.deeplinks import (
    AdminOnlyLink,
    BookingLinkNotAllowed,
    NotOwnSpecialist,
    OwnAccountOnly,
    booking_path,
    closed_campaign,
    offer_path,
    owner_of_new_link,
    still_usable,
)
from servicekit.errors import DomainError

ME, SOMEONE = uuid.uuid4(), uuid.uuid4()


def owner(action: str, roles: set[str], **named: uuid.UUID | None) -> uuid.UUID | None:
    return owner_of_new_link(
        action,
        caller=ME,
        caller_roles=roles,
        user_id=named.get("user_id"),
        specialist_id=named.get("specialist_id"),
    )


def test_an_account_link_is_the_callers_own() -> None:
    assert owner("link_account", {"client"}) == ME
    assert owner("link_account", {"client"}, user_id=ME) == ME


@pytest.mark.parametrize("roles", [{"client"}, {"admin"}, {"specialist"}])
def test_no_one_makes_an_account_link_for_someone_else(roles: set[str]) -> None:
    with pytest.raises(OwnAccountOnly):
        owner("link_account", roles, user_id=SOMEONE)


@pytest.mark.parametrize("action", ["attribution", "waitlist_offer"])
def test_campaign_and_offer_links_are_for_admins(action: str) -> None:
    with pytest.raises(AdminOnlyLink):
        owner(action, {"client", "specialist"}, user_id=SOMEONE)
    assert owner("attribution", {"admin"}, user_id=SOMEONE) is None  # a campaign is no one's
    assert owner("waitlist_offer", {"admin"}, user_id=SOMEONE) == SOMEONE


def test_booking_links_are_for_specialists_on_their_own_calendar_and_admins() -> None:
    with pytest.raises(BookingLinkNotAllowed):
        owner("start_booking", {"client"})
    assert owner("start_booking", {"specialist"}) is None
    assert owner("start_booking", {"specialist"}, specialist_id=ME) is None
    with pytest.raises(NotOwnSpecialist):
        owner("start_booking", {"specialist"}, specialist_id=SOMEONE)
    assert owner("start_booking", {"admin"}, specialist_id=SOMEONE) is None


def test_the_refusals_carry_the_codes_clients_branch_on() -> None:
    codes = {
        error.code
        for error in (OwnAccountOnly, AdminOnlyLink, BookingLinkNotAllowed, NotOwnSpecialist)
    }
    assert codes == {"own_account_only", "forbidden", "not_own_specialist"}
    assert issubclass(NotOwnSpecialist, DomainError)


@pytest.mark.parametrize("action", ["link_account", "start_booking", "waitlist_offer"])
def test_a_link_works_once_until_it_expires(action: str) -> None:
    now = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
    later = now + timedelta(minutes=1)
    assert still_usable(action=action, used_at=None, expires_at=later, now=now)
    assert not still_usable(action=action, used_at=None, expires_at=now, now=now)
    assert not still_usable(action=action, used_at=now, expires_at=later, now=now)
    assert not closed_campaign(action=action, revoked_at=now)


def test_a_campaign_link_works_for_many_until_revoked_or_expired() -> None:
    now = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
    later = now + timedelta(minutes=1)
    assert still_usable(action="attribution", used_at=now, expires_at=later, now=now)
    assert not still_usable(action="attribution", used_at=None, expires_at=now, now=now)
    assert not still_usable(
        action="attribution", used_at=None, expires_at=later, now=now, revoked_at=now
    )
    assert closed_campaign(action="attribution", revoked_at=now)
    assert not closed_campaign(action="attribution", revoked_at=None)


def test_pages_of_the_front_end() -> None:
    service, specialist = uuid.uuid4(), uuid.uuid4()
    assert booking_path(None, None) == "/booking"
    assert booking_path(service, None) == f"/booking?service={service}"
    assert booking_path(service, specialist) == (
        f"/booking?service={service}&specialist={specialist}"
    )
    assert offer_path(service) == f"/waitlist/offers/{service}"
