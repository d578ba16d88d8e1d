"""CRM leads (docs/leads.md): touches from every place a person shows interest, duplicates
merged by the blind indexes of their contacts, the practice's pipeline (status, notes), the
first booking and the first completed session from booking's events, the funnel.

Rules live in :mod:`cabinet.domain.leads`; this module finds, locks, merges and writes.
Concurrent touches of one person are serialised by transaction-scoped advisory locks on the
person's keys (email index, Telegram index, account id), so two events about one person never
make two leads.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.cabinet.v1 import (
    CampaignLinkIssuedV1,
    CampaignLinkRevokedV1,
    LeadConvertedV1,
    LeadCreatedV1,
)
from servicekit.db.faults import is_unique_violation
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import Keyring
from sqlalchemy import delete, or_, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from cabinet.adapters.lead_tables import (
    Campaign,
    Lead,
    LeadMoney,
    LeadNote,
    LeadStatusChange,
    LeadTouch,
)
from cabinet.adapters.tables import AppointmentCopy
from cabinet.domain.leads import (
    CampaignNameTaken,
    CampaignNotFound,
    FunnelLead,
    FunnelRow,
    LeadNotFound,
    Touch,
    funnel,
    last_touch_after,
    merged_touches,
    status_change_allowed,
)

SYSTEM = None  # ``changed_by`` of what the system did


@dataclass(frozen=True)
class Contact:
    """Who touched: whatever is known of them (each field optional)."""

    user_id: uuid.UUID | None = None
    email: str | None = None
    name: str | None = None
    telegram_chat_id: int | None = None
    telegram_username: str | None = None
    phone: str | None = None
    consented_at: datetime | None = None  # agreed to be contacted (a left contact)


@dataclass(frozen=True)
class Keys:
    """What a lead is found by: never a plaintext contact."""

    user_id: uuid.UUID | None
    email_index: str | None
    telegram_index: str | None
    phone_index: str | None = None

    @classmethod
    def of(cls, contact: Contact, keyring: Keyring) -> Keys:
        email_index = None
        if contact.email:
            try:
                email_index = keyring.blind_index(contact.email, kind="email")
            except ValueError:
                email_index = None
        telegram = (
            None
            if contact.telegram_chat_id is None
            else keyring.blind_index(str(contact.telegram_chat_id), kind="telegram_chat")
        )
        phone_index = None
        if contact.phone:
            try:
                phone_index = keyring.blind_index(contact.phone, kind="phone")
            except ValueError:
                phone_index = None
        return cls(contact.user_id, email_index, telegram, phone_index)

    def locks(self) -> list[str]:
        found = [
            f"lead:user:{self.user_id}" if self.user_id else None,
            f"lead:email:{self.email_index}" if self.email_index else None,
            f"lead:tg:{self.telegram_index}" if self.telegram_index else None,
            f"lead:phone:{self.phone_index}" if self.phone_index else None,
        ]
        return sorted(k for k in found if k)


# -- touches and merging ---------------------------------------------------------------------


def _touch_of(lead: Lead, prefix: str) -> Touch:
    return Touch(
        channel=getattr(lead, f"{prefix}_channel"),
        at=getattr(lead, f"{prefix}_at"),
        source=getattr(lead, f"{prefix}_source"),
        medium=getattr(lead, f"{prefix}_medium"),
        campaign=getattr(lead, f"{prefix}_campaign"),
        campaign_id=getattr(lead, f"{prefix}_campaign_id"),
    )


def _set_touch(lead: Lead, prefix: str, touch: Touch) -> None:
    setattr(lead, f"{prefix}_channel", touch.channel)
    setattr(lead, f"{prefix}_at", touch.at)
    setattr(lead, f"{prefix}_source", touch.source)
    setattr(lead, f"{prefix}_medium", touch.medium)
    setattr(lead, f"{prefix}_campaign", touch.campaign)
    setattr(lead, f"{prefix}_campaign_id", touch.campaign_id)


async def _lock(uow: UnitOfWork, keys: Keys) -> None:
    for key in keys.locks():
        await uow.session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 18))").bindparams(k=key)
        )


async def _matching(uow: UnitOfWork, keys: Keys) -> list[Lead]:
    conditions = []
    if keys.user_id is not None:
        conditions.append(col(Lead.user_id) == keys.user_id)
    if keys.email_index is not None:
        conditions.append(col(Lead.email_index) == keys.email_index)
    if keys.telegram_index is not None:
        conditions.append(col(Lead.telegram_index) == keys.telegram_index)
    if keys.phone_index is not None:
        conditions.append(col(Lead.phone_index) == keys.phone_index)
    if not conditions:
        return []
    rows = await uow.session.exec(
        select(Lead)
        .where(or_(*conditions))
        .order_by(col(Lead.first_at), col(Lead.id))
        .with_for_update()
    )
    return list(rows.all())


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x is not None) if (a or b) else None


async def _merge(uow: UnitOfWork, leads: Sequence[Lead]) -> Lead:
    """Merge duplicates into the lead first touched earliest (history, notes and milestones
    move to it; the duplicates are deleted)."""
    survivor, others = leads[0], leads[1:]
    if not others:
        return survivor
    first, last = merged_touches(
        [_touch_of(lead, "first") for lead in leads], [_touch_of(lead, "last") for lead in leads]
    )
    _set_touch(survivor, "first", first)
    _set_touch(survivor, "last", last)
    moved: dict[str, Any] = {}
    for other in others:
        for name in (
            "user_id",
            "email",
            "email_index",
            "name",
            "telegram_index",
            "phone",
            "phone_index",
        ):
            if getattr(survivor, name) is None and getattr(other, name) is not None:
                moved[name] = getattr(other, name)
        if survivor.telegram_username is None:
            survivor.telegram_username = other.telegram_username
        survivor.contact_consented_at = _latest(
            survivor.contact_consented_at, other.contact_consented_at
        )
        survivor.first_booked_at = _earliest(survivor.first_booked_at, other.first_booked_at)
        if other.converted_at is not None and (
            survivor.converted_at is None or other.converted_at < survivor.converted_at
        ):
            survivor.converted_at = other.converted_at
            survivor.converted_appointment_id = other.converted_appointment_id
            survivor.status, survivor.status_changed_at = "converted", other.status_changed_at
            survivor.status_changed_by = SYSTEM
        for table in (LeadTouch, LeadStatusChange, LeadNote):
            await uow.session.exec(
                update(table)
                .where(col(table.lead_id) == other.id)
                .values(lead_id=survivor.id)
                .execution_options(synchronize_session=False)
            )
        await uow.session.delete(other)
    await uow.session.flush()  # the duplicates' unique keys are free now
    for name, value in moved.items():
        setattr(survivor, name, value)
    return survivor


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def _fill_contact(lead: Lead, contact: Contact, keys: Keys) -> None:
    """Add what the lead did not know yet (never overwrite: a stranger's registration attempt
    with someone's address must not rename them)."""
    if lead.user_id is None and keys.user_id is not None:
        lead.user_id = keys.user_id
    if lead.email_index is None and keys.email_index is not None:
        lead.email_index, lead.email = keys.email_index, contact.email
    if lead.telegram_index is None and keys.telegram_index is not None:
        lead.telegram_index = keys.telegram_index
    if lead.telegram_username is None and contact.telegram_username:
        lead.telegram_username = contact.telegram_username
    if lead.name is None and contact.name:
        lead.name = contact.name
    if lead.phone_index is None and keys.phone_index is not None:
        lead.phone_index, lead.phone = keys.phone_index, contact.phone
    lead.contact_consented_at = _latest(lead.contact_consented_at, contact.consented_at)


async def _already_a_client(uow: UnitOfWork, user_id: uuid.UUID | None) -> bool:
    """A person who has had a completed session is not a lead any more (nor again)."""
    if user_id is None:
        return False
    found = await uow.session.exec(
        select(AppointmentCopy.appointment_id)
        .where(AppointmentCopy.client_id == user_id, AppointmentCopy.status == "completed")
        .limit(1)
    )
    return found.first() is not None


async def touched(
    uow: UnitOfWork, keyring: Keyring, contact: Contact, touch: Touch, *, create: bool = True
) -> Lead | None:
    """Record a touch: on the person's lead (their duplicates merged first), or on a new lead
    (``cabinet.lead.created``) unless ``create`` is false or they are already a client."""
    keys = Keys.of(contact, keyring)
    await _lock(uow, keys)
    found = await _matching(uow, keys)
    if not found:
        if not create or await _already_a_client(uow, keys.user_id):
            return None
        lead = Lead(
            id=uuid.uuid4(),
            status="new",
            status_changed_at=touch.at,
            created_at=touch.at,
            updated_at=touch.at,
            first_channel=touch.channel,
            first_at=touch.at,
            last_channel=touch.channel,
            last_at=touch.at,
        )
        _set_touch(lead, "first", touch)
        _set_touch(lead, "last", touch)
        _fill_contact(lead, contact, keys)
        uow.session.add(lead)
        await uow.session.flush()
        uow.session.add(_touch_row(lead.id, touch))
        uow.emit(
            LeadCreatedV1(
                lead_id=lead.id,
                channel=touch.channel,
                source=touch.source,
                medium=touch.medium,
                campaign=touch.campaign,
                campaign_id=touch.campaign_id,
                user_id=lead.user_id,
                created_at=touch.at,
            )
        )
        return lead
    lead = await _merge(uow, found)
    first, last = _touch_of(lead, "first"), _touch_of(lead, "last")
    if touch.at < first.at:
        _set_touch(lead, "first", touch)
    _set_touch(lead, "last", last_touch_after(last, touch))
    _fill_contact(lead, contact, keys)
    lead.updated_at = max(lead.updated_at, touch.at)
    uow.session.add(lead)
    uow.session.add(_touch_row(lead.id, touch))
    return lead


def _touch_row(lead_id: uuid.UUID, touch: Touch) -> LeadTouch:
    return LeadTouch(
        lead_id=lead_id,
        channel=touch.channel,
        source=touch.source,
        medium=touch.medium,
        campaign=touch.campaign,
        campaign_id=touch.campaign_id,
        at=touch.at,
    )


async def contacts_linked(uow: UnitOfWork, keyring: Keyring, contact: Contact) -> None:
    """Two contacts turned out to be one person (a Telegram chat linked to an account): their
    leads become one. Creates no lead."""
    keys = Keys.of(contact, keyring)
    await _lock(uow, keys)
    found = await _matching(uow, keys)
    if found:
        lead = await _merge(uow, found)
        _fill_contact(lead, contact, keys)
        uow.session.add(lead)


async def campaign_touch(
    uow: UnitOfWork,
    *,
    channel: str,
    at: datetime,
    source: str | None,
    medium: str | None,
    campaign: str | None,
) -> Touch:
    """A touch with UTM values; a ``utm_campaign`` of one of the practice's campaigns credits
    that campaign."""
    known = None
    if campaign:
        known = (
            await uow.session.exec(select(Campaign).where(Campaign.campaign == campaign))
        ).first()
    return Touch(
        channel=channel,  # type: ignore[arg-type]
        at=at,
        source=source or (known.source if known else None),
        medium=medium or (known.medium if known else None),
        campaign=campaign,
        campaign_id=known.id if known else None,
    )


async def link_opened(
    uow: UnitOfWork,
    keyring: Keyring,
    *,
    deeplink_id: uuid.UUID,
    source: str | None,
    campaign: str | None,
    contact: Contact,
    at: datetime,
) -> None:
    """Someone opened a deep link in the bot: a campaign's (credited to it, unless it was
    revoked by then) or an attribution link made in notify (its own labels)."""
    known = await uow.session.get(Campaign, deeplink_id)
    if known is not None and known.revoked_at is not None and known.revoked_at <= at:
        return
    touch = Touch(
        channel="telegram",
        at=at,
        source=known.source if known else source,
        medium=known.medium if known else None,
        campaign=known.campaign if known else campaign,
        campaign_id=known.id if known else None,
    )
    await touched(uow, keyring, contact, touch)


async def questionnaire_contact(
    uow: UnitOfWork,
    keyring: Keyring,
    contact: Contact,
    *,
    at: datetime,
    source: str | None,
    medium: str | None,
    campaign: str | None,
) -> None:
    """The taker of an anonymous questionnaire run left a contact (content's
    ``run_contact.left``): a ``questionnaire`` touch with the UTM of the page they came from,
    on the lead of that email or phone (merged with any other), or a new lead."""
    touch = await campaign_touch(
        uow, channel="questionnaire", at=at, source=source, medium=medium, campaign=campaign
    )
    await touched(uow, keyring, contact, touch)


# -- booking's milestones ------------------------------------------------------------------


async def booked(uow: UnitOfWork, keyring: Keyring, client_id: uuid.UUID, at: datetime) -> None:
    """An appointment confirmed (paid, or booked without prepayment): the first booking."""
    lead = await touched(uow, keyring, Contact(user_id=client_id), Touch("booking", at))
    if lead is not None and (lead.first_booked_at is None or at < lead.first_booked_at):
        lead.first_booked_at = at
        uow.session.add(lead)


async def session_completed(
    uow: UnitOfWork, client_id: uuid.UUID, appointment_id: uuid.UUID, at: datetime
) -> None:
    """The first completed session converts the lead (``cabinet.lead.converted``), once."""
    keys = Keys(client_id, None, None)
    await _lock(uow, keys)
    found = await _matching(uow, keys)
    if not found:
        return
    lead = await _merge(uow, found)
    if lead.converted_at is not None:
        # Events of different appointments may arrive out of order: the earliest session is
        # the conversion (announced once, when the first completion arrived).
        if at < lead.converted_at:
            lead.converted_at, lead.converted_appointment_id = at, appointment_id
            lead.first_booked_at = min(lead.first_booked_at or at, at)
            uow.session.add(lead)
        return
    uow.session.add(
        LeadStatusChange(
            lead_id=lead.id,
            from_status=lead.status,
            to_status="converted",
            changed_by=SYSTEM,
            at=at,
        )
    )
    lead.status, lead.status_changed_at, lead.status_changed_by = "converted", at, SYSTEM
    lead.converted_at, lead.converted_appointment_id = at, appointment_id
    lead.first_booked_at = lead.first_booked_at or at
    lead.updated_at = max(lead.updated_at, at)
    uow.session.add(lead)
    uow.emit(
        LeadConvertedV1(
            lead_id=lead.id,
            user_id=client_id,
            appointment_id=appointment_id,
            source=lead.first_source,
            medium=lead.first_medium,
            campaign=lead.first_campaign,
            campaign_id=lead.first_campaign_id,
            converted_at=at,
        )
    )


async def money(
    uow: UnitOfWork, money_id: uuid.UUID, user_id: uuid.UUID, amount: int, at: datetime
) -> None:
    """A payment (positive) or a refund (negative) of a client, once."""
    await uow.session.exec(
        insert(LeadMoney)
        .values(id=money_id, user_id=user_id, amount=amount, at=at)
        .on_conflict_do_nothing(index_elements=["id"])
    )


# -- the practice's pipeline ---------------------------------------------------------------


async def lead(uow: UnitOfWork, lead_id: uuid.UUID, *, for_update: bool = False) -> Lead:
    found = await uow.session.get(Lead, lead_id, with_for_update=for_update)
    if found is None:
        raise LeadNotFound
    return found


async def leads(
    uow: UnitOfWork,
    *,
    status: str | None,
    source: str | None,
    campaign: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Lead], str | None]:
    query = select(Lead)
    if status:
        query = query.where(Lead.status == status)
    if source:
        query = query.where(Lead.first_source == source)
    if campaign:
        query = query.where(Lead.first_campaign == campaign)
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(Lead.created_at),
        newest_first=True,
        tiebreak=col(Lead.id),
        limit=limit,
        cursor=cursor,
    )
    return list(rows), next_cursor


async def history(
    uow: UnitOfWork, lead_id: uuid.UUID
) -> tuple[list[LeadTouch], list[LeadStatusChange], list[LeadNote]]:
    touches = await uow.session.exec(
        select(LeadTouch).where(LeadTouch.lead_id == lead_id).order_by(col(LeadTouch.at))
    )
    changes = await uow.session.exec(
        select(LeadStatusChange)
        .where(LeadStatusChange.lead_id == lead_id)
        .order_by(col(LeadStatusChange.at))
    )
    notes = await uow.session.exec(
        select(LeadNote).where(LeadNote.lead_id == lead_id).order_by(col(LeadNote.created_at))
    )
    return list(touches.all()), list(changes.all()), list(notes.all())


async def change_status(
    uow: UnitOfWork, lead_id: uuid.UUID, status: str, *, by: uuid.UUID, now: datetime
) -> Lead:
    row = await lead(uow, lead_id, for_update=True)
    status_change_allowed(row.status, status)
    if row.status != status:
        uow.session.add(
            LeadStatusChange(
                lead_id=row.id, from_status=row.status, to_status=status, changed_by=by, at=now
            )
        )
        row.status, row.status_changed_at, row.status_changed_by = status, now, by
        row.updated_at = now
        uow.session.add(row)
    await uow.commit()
    return row


async def add_note(
    uow: UnitOfWork, lead_id: uuid.UUID, note: str, *, by: uuid.UUID, now: datetime
) -> LeadNote:
    row = await lead(uow, lead_id, for_update=True)
    added = LeadNote(lead_id=row.id, author_id=by, text=note, created_at=now)
    uow.session.add(added)
    row.updated_at = now
    uow.session.add(row)
    await uow.commit()
    return added


async def delete_lead(uow: UnitOfWork, lead_id: uuid.UUID) -> None:
    """Forget a lead (a person without an account asked to be forgotten)."""
    row = await lead(uow, lead_id, for_update=True)
    await _forget(uow, [row.id])
    await uow.commit()


async def _forget(uow: UnitOfWork, lead_ids: Sequence[uuid.UUID]) -> None:
    for table in (LeadTouch, LeadStatusChange, LeadNote):
        await uow.session.exec(
            delete(table)
            .where(col(table.lead_id).in_(lead_ids))
            .execution_options(synchronize_session=False)
        )
    await uow.session.exec(
        delete(Lead).where(col(Lead.id).in_(lead_ids)).execution_options(synchronize_session=False)
    )


# -- data-subject rights --------------------------------------------------------------------


async def _leads_of(uow: UnitOfWork, user_id: uuid.UUID, email_index: str | None) -> list[Lead]:
    return await _matching(uow, Keys(user_id, email_index, None))


async def export_of(
    uow: UnitOfWork, user_id: uuid.UUID, email_index: str | None
) -> list[dict[str, Any]]:
    """What cabinet's CRM holds about a user, for their data export (notes included: they
    are data about them)."""
    out = []
    for row in await _leads_of(uow, user_id, email_index):
        touches, changes, notes = await history(uow, row.id)
        out.append(
            {
                "id": str(row.id),
                "status": row.status,
                "email": row.email,
                "phone": row.phone,
                "name": row.name,
                "telegram_username": row.telegram_username,
                "first_touch": _touch_json(_touch_of(row, "first")),
                "last_touch": _touch_json(_touch_of(row, "last")),
                "touches": [_touch_json(_touch_of_row(t)) for t in touches],
                "status_changes": [
                    {"from": c.from_status, "to": c.to_status, "at": c.at.isoformat()}
                    for c in changes
                ],
                "notes": [{"text": n.text, "at": n.created_at.isoformat()} for n in notes],
                "created_at": row.created_at.isoformat(),
                "first_booked_at": _iso(row.first_booked_at),
                "converted_at": _iso(row.converted_at),
            }
        )
    return out


async def forget_user(uow: UnitOfWork, user_id: uuid.UUID, email_index: str | None) -> None:
    """Erasure: the user's leads, their history and notes, and their payments' copy."""
    found = await _leads_of(uow, user_id, email_index)
    if found:
        await _forget(uow, [row.id for row in found])
    await uow.session.exec(
        delete(LeadMoney)
        .where(col(LeadMoney.user_id) == user_id)
        .execution_options(synchronize_session=False)
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _touch_of_row(row: LeadTouch) -> Touch:
    return Touch(
        channel=row.channel,  # type: ignore[arg-type]
        at=row.at,
        source=row.source,
        medium=row.medium,
        campaign=row.campaign,
        campaign_id=row.campaign_id,
    )


def _touch_json(touch: Touch) -> dict[str, Any]:
    return {
        "channel": touch.channel,
        "source": touch.source,
        "medium": touch.medium,
        "campaign": touch.campaign,
        "at": touch.at.isoformat(),
    }


# -- campaigns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRequest:
    name: str
    source: str
    medium: str | None
    campaign: str
    service_id: uuid.UUID | None
    specialist_id: uuid.UUID | None


def new_campaign_token() -> str:
    """An opaque ``/start`` payload: 32 characters of ``A-Za-z0-9_-`` (192 random bits)."""
    return secrets.token_urlsafe(24)


async def create_campaign(
    uow: UnitOfWork, request: CampaignRequest, *, by: uuid.UUID, now: datetime
) -> Campaign:
    """A campaign and its Telegram link; notify learns the link (its SHA-256) by event."""
    token = new_campaign_token()
    row = Campaign(
        name=request.name,
        source=request.source,
        medium=request.medium,
        campaign=request.campaign,
        service_id=request.service_id,
        specialist_id=request.specialist_id,
        token=token,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        created_by=by,
        created_at=now,
    )
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, "campaigns_campaign_key"):
            raise CampaignNameTaken from exc
        raise
    uow.emit(
        CampaignLinkIssuedV1(
            campaign_id=row.id,
            token_sha256=row.token_hash,
            source=row.source,
            medium=row.medium,
            campaign=row.campaign,
            service_id=row.service_id,
            specialist_id=row.specialist_id,
            issued_at=now,
        )
    )
    await uow.commit()
    return row


async def campaign(uow: UnitOfWork, campaign_id: uuid.UUID) -> Campaign:
    found = await uow.session.get(Campaign, campaign_id)
    if found is None:
        raise CampaignNotFound
    return found


async def campaigns(
    uow: UnitOfWork, *, limit: int, cursor: str | None
) -> tuple[list[Campaign], str | None]:
    rows, next_cursor = await keyset_page(
        uow.session,
        select(Campaign),
        order=col(Campaign.created_at),
        newest_first=True,
        tiebreak=col(Campaign.id),
        limit=limit,
        cursor=cursor,
    )
    return list(rows), next_cursor


async def revoke_campaign(
    uow: UnitOfWork, campaign_id: uuid.UUID, *, by: uuid.UUID, now: datetime
) -> Campaign:
    """The link stops creating leads (and notify stops honouring it); idempotent."""
    row = await uow.session.get(Campaign, campaign_id, with_for_update=True)
    if row is None:
        raise CampaignNotFound
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, by
        uow.session.add(row)
        uow.emit(CampaignLinkRevokedV1(campaign_id=row.id, revoked_at=now))
    await uow.commit()
    return row


# -- the funnel ------------------------------------------------------------------------------


async def funnel_report(
    uow: UnitOfWork, since: datetime, until: datetime
) -> tuple[list[FunnelRow], FunnelRow]:
    """The funnel of leads first touched in ``[since, until)``: each counted once under its
    first touch, its booking and conversion whenever they came."""
    rows = (
        await uow.session.exec(
            select(Lead).where(col(Lead.first_at) >= since, col(Lead.first_at) < until)
        )
    ).all()
    users = [r.user_id for r in rows if r.user_id is not None and r.converted_at is not None]
    payments: dict[uuid.UUID, list[tuple[datetime, int]]] = {}
    if users:
        for m in (
            await uow.session.exec(select(LeadMoney).where(col(LeadMoney.user_id).in_(users)))
        ).all():
            payments.setdefault(m.user_id, []).append((m.at, m.amount))
    return funnel(
        FunnelLead(
            source=r.first_source,
            campaign=r.first_campaign,
            created_at=r.first_at,
            first_booked_at=r.first_booked_at,
            converted_at=r.converted_at,
            payments=tuple(payments.get(r.user_id, ())) if r.user_id else (),
        )
        for r in rows
    )
