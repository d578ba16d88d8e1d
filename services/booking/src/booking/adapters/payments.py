"""Queries over payments and refunds by what YooKassa knows them as."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Payment, Refund
from booking.adapters.yookassa import ProviderPayment


async def find_payment(session: AsyncSession, provider: ProviderPayment) -> Payment | None:
    """Our payment row for a YooKassa payment (by its id, else by the metadata we sent)."""
    payment = (
        await session.exec(select(Payment).where(Payment.provider_payment_id == provider.id))
    ).first()
    if payment is not None:
        return payment
    try:
        ours = uuid.UUID(str(provider.metadata.get("payment_id", "")))
    except ValueError:
        return None
    payment = await session.get(Payment, ours)
    if payment is not None and payment.provider_payment_id in (None, provider.id):
        return payment
    return None


async def knows_provider_object(session: AsyncSession, event: str, provider_id: str) -> bool:
    """Whether a notification's object is one booking made (a payment or a refund row carries
    its id): only then is YooKassa asked about it."""
    if event.startswith("payment."):
        query = select(Payment.id).where(col(Payment.provider_payment_id) == provider_id)
    else:
        query = select(Refund.id).where(col(Refund.provider_refund_id) == provider_id)
    return (await session.exec(query)).first() is not None


async def refund_by_provider_id(session: AsyncSession, provider_refund_id: str) -> Refund | None:
    """Our refund row for a YooKassa refund id, locked."""
    return (
        await session.exec(
            select(Refund)
            .where(col(Refund.provider_refund_id) == provider_refund_id)
            .with_for_update()
        )
    ).first()


async def lock_refund(session: AsyncSession, refund_id: uuid.UUID) -> Refund | None:
    """A refund row, locked."""
    return (
        await session.exec(select(Refund).where(Refund.id == refund_id).with_for_update())
    ).first()
