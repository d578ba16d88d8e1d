"""The queries behind booking's answers to data-subject requests (booking.application.
data_rights): each user's rows per table, as plain JSON-ready dicts (decrypted), and the
statements that delete or anonymise them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from servicekit.data_rights import iso, write
from sqlalchemy import delete, func, null, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import (
    Appointment,
    Client,
    Consent,
    IdempotencyKey,
    IntakeForm,
    OutcomeRecord,
    Payment,
    Refund,
    WaitlistEntry,
    WaitlistOffer,
)

Rows = list[dict[str, Any]]


async def client_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """booking's copy of the user's contacts."""
    row = await session.get(Client, user_id)
    if row is None:
        return []
    return [
        {
            "user_id": str(row.user_id),
            "name": row.name,
            "email": row.email,
            "phone": row.phone,
            "time_zone": row.time_zone,
            "email_verified": row.email_verified,
            "roles": list(row.roles),
            "known_since": iso(row.known_since),
        }
    ]


async def appointment_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's appointments as a client, oldest first."""
    rows = (
        await session.exec(
            select(Appointment)
            .where(Appointment.client_id == user_id)
            .order_by(col(Appointment.starts_at), col(Appointment.id))
        )
    ).all()
    return [
        {
            "id": str(a.id),
            "service_id": str(a.service_id),
            "service_name": a.service_name,
            "specialist_id": str(a.specialist_id),
            "specialist_name": a.specialist_name,
            "format": a.format,
            "starts_at": iso(a.starts_at),
            "ends_at": iso(a.ends_at),
            "specialist_time_zone": a.specialist_time_zone,
            "status": a.status,
            "price": {"amount": a.price_amount, "currency": "RUB"},
            "reschedule_count": a.reschedule_count,
            "confirmed_at": iso(a.confirmed_at),
            "cancelled_at": iso(a.cancelled_at),
            "cancelled_by": a.cancelled_by,
            "cancel_reason": a.cancel_reason,
            "refund_percent": a.refund_percent,
            "late_cancellation": a.late_cancellation,
            "attendance_confirmed_at": iso(a.attendance_confirmed_at),
            "created_at": iso(a.created_at),
        }
        for a in rows
    ]


async def payment_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's payments."""
    rows = (
        await session.exec(
            select(Payment)
            .where(Payment.client_id == user_id)
            .order_by(col(Payment.created_at), col(Payment.id))
        )
    ).all()
    return [
        {
            "id": str(p.id),
            "appointment_id": str(p.appointment_id),
            "amount": {"amount": p.amount, "currency": "RUB"},
            "status": p.status,
            "paid_at": iso(p.paid_at),
            "refunded": {"amount": p.refunded_amount, "currency": "RUB"},
            "created_at": iso(p.created_at),
        }
        for p in rows
    ]


async def refund_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's refunds."""
    rows = (
        await session.exec(
            select(Refund)
            .where(Refund.client_id == user_id)
            .order_by(col(Refund.created_at), col(Refund.id))
        )
    ).all()
    return [
        {
            "id": str(r.id),
            "payment_id": str(r.payment_id),
            "appointment_id": str(r.appointment_id),
            "amount": {"amount": r.amount, "currency": "RUB"},
            "percent": r.percent,
            "reason": r.reason,
            "status": r.status,
            "refunded_at": iso(r.refunded_at),
        }
        for r in rows
    ]


async def intake_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's intake forms, with their answers."""
    rows = (
        await session.exec(
            select(IntakeForm)
            .where(IntakeForm.client_id == user_id)
            .order_by(col(IntakeForm.submitted_at), col(IntakeForm.id))
        )
    ).all()
    return [
        {
            "id": str(f.id),
            "specialist_id": str(f.specialist_id),
            "appointment_id": None if f.appointment_id is None else str(f.appointment_id),
            "answers": json.loads(f.answers),
            "submitted_at": iso(f.submitted_at),
        }
        for f in rows
    ]


async def consent_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """booking's copy of the user's consents."""
    rows = (await session.exec(select(Consent).where(Consent.user_id == user_id))).all()
    return [
        {
            "purpose": c.purpose,
            "granted": c.granted,
            "document_version": c.document_version,
            "changed_at": iso(c.changed_at),
        }
        for c in rows
    ]


async def waitlist_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's waitlist entries and the offers they were made."""
    entries = (
        await session.exec(select(WaitlistEntry).where(WaitlistEntry.client_id == user_id))
    ).all()
    offers = (
        await session.exec(select(WaitlistOffer).where(WaitlistOffer.client_id == user_id))
    ).all()
    return [
        {
            "id": str(e.id),
            "service_id": str(e.service_id),
            "specialist_id": None if e.specialist_id is None else str(e.specialist_id),
            "windows": e.windows,
            "status": e.status,
            "created_at": iso(e.created_at),
            "offers": [
                {
                    "id": str(o.id),
                    "starts_at": iso(o.starts_at),
                    "status": o.status,
                    "expires_at": iso(o.expires_at),
                }
                for o in offers
                if o.entry_id == e.id
            ],
        }
        for e in entries
    ]


async def outcome_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many outcome records specialists wrote about the user's sessions."""
    found = await session.exec(
        select(func.count()).select_from(OutcomeRecord).where(OutcomeRecord.client_id == user_id)
    )
    return int(found.one())


async def delete_client_rows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete what booking keeps about the user that no law makes it keep (the rows go: no
    ciphertext of them is left)."""
    await write(session, delete(Client).where(col(Client.user_id) == user_id))
    await write(session, delete(Consent).where(col(Consent.user_id) == user_id))
    await write(session, delete(IntakeForm).where(col(IntakeForm.client_id) == user_id))
    await write(session, delete(OutcomeRecord).where(col(OutcomeRecord.client_id) == user_id))
    await write(session, delete(WaitlistOffer).where(col(WaitlistOffer.client_id) == user_id))
    await write(session, delete(WaitlistEntry).where(col(WaitlistEntry.client_id) == user_id))
    await write(session, delete(IdempotencyKey).where(col(IdempotencyKey.user_id) == user_id))


async def anonymise_accounting(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Replace the user's id on appointments, payments and refunds by a random one (the same
    on all three, so the books still add up) and drop the free text; returns the payments
    kept."""
    anonymous = uuid.uuid4()
    await write(
        session,
        update(Appointment)
        .where(col(Appointment.client_id) == user_id)
        .values(client_id=anonymous, cancel_reason=null()),
    )
    await write(
        session,
        update(Appointment)
        .where(col(Appointment.cancelled_by_user_id) == user_id)
        .values(cancelled_by_user_id=anonymous),
    )
    kept = await write(
        session,
        update(Payment)
        .where(col(Payment.client_id) == user_id)
        .values(client_id=anonymous, confirmation_url=None)
        .returning(col(Payment.id)),
    )
    count = len(kept.all())
    await write(
        session, update(Refund).where(col(Refund.client_id) == user_id).values(client_id=anonymous)
    )
    return count
