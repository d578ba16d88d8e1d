"""content's answers to data-subject requests (docs/data-rights.md): its part of an export and
its erasure, one :class:`~servicekit.data_rights.Category` per kind of data. Another kind of
a user's data (articles' comments, reviews, ...) is one more entry in ``CATEGORIES``: its
export query and its erase statement in ``content.adapters.data_rights``.

Retention: nothing of content's is kept after an erasure; runs (answers, results),
assignments, the user's questions, comments and reviews with their moderation record (the text
as decided on), and the copies of consents and appointments are deleted (rows gone: no
ciphertext is left). Articles a specialist wrote are the practice's publications, not their
personal data, and stay.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.content.v1 import DataExportPartReadyV1, UserDataErasedV1
from contracts.data_rights import RetainedData
from servicekit.data_rights import Category, PartLinks, data_rights_consumer
from servicekit.messaging.consumer import EventConsumer
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters import data_rights as rows


async def _erase_runs(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_runs(session, user_id)
    return None


async def _erase_assignments(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_assignments(session, user_id)
    return None


async def _erase_posts(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_posts(session, user_id)
    return None


async def _erase_copies(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> RetainedData | None:
    await rows.delete_copies(session, user_id)
    return None


#: content's data of a user, one entry per kind (the export's order; erasure in this order).
CATEGORIES: tuple[Category, ...] = (
    Category("questionnaire_runs", rows.run_rows, _erase_runs),
    Category("assignments", rows.assignment_rows, _erase_assignments),
    Category("posts", rows.post_rows, _erase_posts),
    Category("consents", rows.consent_rows, _erase_copies),
)


def consumer(links: PartLinks) -> EventConsumer:
    """``content.data-rights``: cabinet's export and erasure requests."""
    return data_rights_consumer(
        "content",
        CATEGORIES,
        part_event=DataExportPartReadyV1,
        erased_event=UserDataErasedV1,
        links=links,
    )
