"""Deep links: who may make which kind, and whether an opened one still works. Pure rules.

- ``link_account``: links the chat that opens it to an account, once the owner confirms
  (:mod:`notify.domain.linking`); whoever holds the token could link a chat, so only the
  account's owner makes one (no one for someone else, admins included);
- ``attribution``: a campaign or source link, the one kind many people open (a link posted in a
  channel credits every opener) until it expires or is revoked; ``waitlist_offer``: opens a
  waitlist offer in its owner's linked chat (notify makes them for offer mails): admins only;
- ``start_booking``: opens booking for a service or specialist: specialists (for their own
  calendar) and admins.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Literal

from servicekit.errors import DomainError

from notify.domain.linking import LINK_ACCOUNT

Action = Literal["link_account", "attribution", "waitlist_offer", "start_booking"]
ATTRIBUTION = "attribution"
WAITLIST_OFFER = "waitlist_offer"
START_BOOKING = "start_booking"
ADMIN_ONLY: frozenset[str] = frozenset({ATTRIBUTION, WAITLIST_OFFER})
MULTI_USE: frozenset[str] = frozenset({ATTRIBUTION})
BOUND_TO_A_USER: frozenset[str] = frozenset({LINK_ACCOUNT, WAITLIST_OFFER})


class OwnAccountOnly(DomainError):
    """A ``link_account`` link for another account: only its owner links a chat to it."""

    code = "own_account_only"


class AdminOnlyLink(DomainError):
    """Campaign and waitlist-offer links are made by admins only."""

    code = "forbidden"


class BookingLinkNotAllowed(DomainError):
    """Booking links are made by specialists and admins only."""

    code = "forbidden"


class NotOwnSpecialist(DomainError):
    """A specialist (not an admin) made a booking link to another specialist's calendar."""

    code = "not_own_specialist"


def owner_of_new_link(
    action: str,
    *,
    caller: uuid.UUID,
    caller_roles: Collection[str],
    user_id: uuid.UUID | None,
    specialist_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """Whose link a new one of ``action`` is (``None``: no one's), or why the caller may not
    make it. ``user_id`` is the user the request names, ``specialist_id`` the calendar."""
    is_admin = "admin" in caller_roles
    if action == LINK_ACCOUNT:
        user_id = user_id or caller
        if user_id != caller:
            raise OwnAccountOnly
    elif action in ADMIN_ONLY and not is_admin:
        raise AdminOnlyLink
    elif action == START_BOOKING and not (is_admin or "specialist" in caller_roles):
        raise BookingLinkNotAllowed
    if action == START_BOOKING and not is_admin and specialist_id not in (None, caller):
        raise NotOwnSpecialist
    return user_id if action in BOUND_TO_A_USER else None


def still_usable(
    *,
    action: str,
    used_at: datetime | None,
    expires_at: datetime,
    now: datetime,
    revoked_at: datetime | None = None,
) -> bool:
    """A link works until it expires or is revoked: a campaign (``attribution``) link for
    every opener, any other once (account links above all: whoever opens one first waits for
    its owner's confirmation)."""
    if revoked_at is not None or now >= expires_at:
        return False
    return action in MULTI_USE or used_at is None


def closed_campaign(*, action: str, revoked_at: datetime | None) -> bool:
    """A revoked campaign link: its opener is told kindly that the offer ended, not that the
    link is broken."""
    return action in MULTI_USE and revoked_at is not None


def booking_path(service_id: uuid.UUID | None, specialist_id: uuid.UUID | None) -> str:
    """The front end's booking page for a service and/or specialist: ``/booking?service=…``."""
    query = "&".join(
        f"{name}={value}"
        for name, value in (("service", service_id), ("specialist", specialist_id))
        if value
    )
    return "/booking" + (f"?{query}" if query else "")


def offer_path(offer_id: uuid.UUID | None) -> str:
    """The front end's page of a waitlist offer (it asks to log in)."""
    return f"/waitlist/offers/{offer_id}"
