"""booking's answers to data-subject requests (docs/data-rights.md): its part of an export and
its erasure, category by category (``CATEGORIES``; a new table adds a category here).

Retention: appointments, payments and refunds are accounting records (402-FZ art. 29: five
years; 54-FZ receipts): kept, anonymised (a random id for the person, no free text). Contacts,
intake forms, outcome records, consents copy, waitlist and idempotency records are deleted
(rows gone: no ciphertext is left). An export gives everything of the user's except the
specialists' outcome notes: their working notes, withheld (152-FZ art. 14 part 8 item 4:
rights and legitimate interests of others; GDPR art. 15(4)); the summary counts them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from contracts.booking.v1 import DataExportPartReadyV1, UserDataErasedV1
from contracts.data_rights import RetainedData
from servicekit.data_rights import Category, PartLinks, Withheld, data_rights_consumer
from servicekit.messaging.consumer import EventConsumer
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters import data_rights as rows

ACCOUNTING_YEARS = 5


def _in_years(now: datetime, years: int) -> date:
    today = now.date()
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)


async def _nothing_kept(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    return None


async def _erase_personal(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_client_rows(session, user_id)
    return None


async def _erase_calendar(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_calendar_rows(session, user_id)
    return None


async def _anonymise_accounting(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.anonymise_accounting(session, user_id)
    return RetainedData(
        category="appointments_and_payments",
        legal_basis="402-FZ art. 29 and 54-FZ: accounting records kept 5 years, anonymised "
        "(no name, contact, id or free text of the person)",
        retain_until=_in_years(now, ACCOUNTING_YEARS),
    )


async def _outcomes_withheld(session: AsyncSession, user_id: uuid.UUID) -> Withheld | None:
    count = await rows.outcome_count(session, user_id)
    return Withheld(
        "outcome_notes",
        count,
        "Рабочие заметки специалиста о сессиях не выдаются: это записи специалиста, их выдача "
        "затронула бы его права (152-ФЗ ст. 14 ч. 8 п. 4). Даты и статусы сессий — в "
        "booking.json.",
        "The specialist's own session notes are withheld: they are the specialist's working "
        "records, and giving them would affect the rights of others (152-FZ art. 14(8)(4); "
        "GDPR art. 15(4)). The sessions' dates and statuses are in booking.json.",
    )


#: booking's data of a user, one entry per kind (export order; erasure runs in this order).
CATEGORIES: tuple[Category, ...] = (
    Category("client", rows.client_rows, _erase_personal),
    Category("appointments", rows.appointment_rows, _anonymise_accounting, _outcomes_withheld),
    Category("payments", rows.payment_rows, _nothing_kept),
    Category("refunds", rows.refund_rows, _nothing_kept),
    Category("intake_forms", rows.intake_rows, _nothing_kept),
    Category("consents", rows.consent_rows, _nothing_kept),
    Category("waitlist", rows.waitlist_rows, _nothing_kept),
    Category("calendar", rows.calendar_rows, _erase_calendar),
)


def consumer(links: PartLinks) -> EventConsumer:
    """``booking.data-rights``: cabinet's export and erasure requests."""
    return data_rights_consumer(
        "booking",
        CATEGORIES,
        part_event=DataExportPartReadyV1,
        erased_event=UserDataErasedV1,
        links=links,
    )
