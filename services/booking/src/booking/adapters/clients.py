"""booking's copy of its clients, as the payment side needs it."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Client
from booking.adapters.yookassa import ReceiptCustomer


async def receipt_customer(session: AsyncSession, client_id: uuid.UUID) -> ReceiptCustomer | None:
    """The client's 54-FZ receipt contact (email first), if cabinet has told booking of them."""
    client = await session.get(Client, client_id)
    if client is None or not (client.email or client.phone):
        return None
    return ReceiptCustomer(email=client.email or None, phone=client.phone)
