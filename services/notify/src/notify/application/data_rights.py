"""notify's answers to data-subject requests (docs/data-rights.md): its part of an export and
its erasure, one :class:`~servicekit.data_rights.Category` per kind of data.

Retention: the crisis-alert audit (who was alerted about a crisis answer, when, and whether it
reached them) is kept as a safeguarding record with the client replaced by a random id;
everything else (contacts, preferences, consents copy, Telegram chat, every delivery with its
content, appointments copy, deep links) is deleted, so nothing more is ever sent to the user;
the tombstone makes every later event about them a no-op.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.data_rights import RetainedData
from contracts.notify.v1 import DataExportPartReadyV1, UserDataErasedV1
from servicekit.data_rights import Category, PartLinks, data_rights_consumer
from servicekit.messaging.consumer import EventConsumer
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters import data_rights as rows


async def _nothing_kept(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    return None


async def _erase_personal(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_personal(session, user_id)
    return None


async def _anonymise_crisis(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    if not await rows.anonymise_crisis_audit(session, user_id):
        return None
    return RetainedData(
        category="crisis_alert_audit",
        legal_basis="Safeguarding record of crisis alerts (who was alerted and when), "
        "anonymised: no contact, name or id of the client",
    )


#: notify's data of a user, one entry per kind (the export's order; erasure in this order).
CATEGORIES: tuple[Category, ...] = (
    Category("recipient", rows.recipient_rows, _erase_personal),
    Category("preferences", rows.preference_rows, _nothing_kept),
    Category("telegram", rows.telegram_rows, _nothing_kept),
    Category("messages", rows.delivery_rows, _nothing_kept),
    Category("crisis_flags", rows.crisis_rows, _anonymise_crisis),
)


def consumer(links: PartLinks) -> EventConsumer:
    """``notify.data-rights``: cabinet's export and erasure requests."""
    return data_rights_consumer(
        "notify",
        CATEGORIES,
        part_event=DataExportPartReadyV1,
        erased_event=UserDataErasedV1,
        links=links,
    )
