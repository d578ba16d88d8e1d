"""Writing and publishing questionnaire definitions, and reading the published ones.

Admins write the practice's questionnaires (public); a specialist writes their own, which
their clients take when assigned. A definition is validated on every save; publishing freezes
the draft as the next version, and a run is always scored by the version it started on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from servicekit.db.faults import is_unique_violation
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, exists, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Assignment, DefinitionVersion, Questionnaire
from content.application.callers import Caller
from content.application.refusals import (
    CodeTaken,
    NothingToPublish,
    QuestionnaireArchived,
    QuestionnaireNotFound,
    VersionNotFound,
)
from content.domain.definitions import (
    Definition,
    DefinitionProblem,
    InvalidDefinition,
    definition_problems,
    validated,
)


def _document(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json", exclude_none=True)


async def create(
    uow: UnitOfWork, author: Caller, definition: Definition, now: datetime
) -> Questionnaire:
    """A new questionnaire with ``definition`` as its draft (nothing published yet)."""
    validated(definition)
    questionnaire = Questionnaire(
        id=uuid.uuid4(),
        code=definition.code,
        owner_id=None if author.admin else author.user_id,
        draft=_document(definition),
        latest_version=0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(questionnaire)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, "questionnaires_code"):
            raise CodeTaken(definition.code) from None
        raise
    return questionnaire


async def authored(
    session: AsyncSession, author: Caller, questionnaire_id: uuid.UUID, *, lock: bool = False
) -> Questionnaire:
    """A questionnaire the caller may edit: any for an admin, their own for a specialist."""
    questionnaire = await session.get(Questionnaire, questionnaire_id, with_for_update=lock)
    if questionnaire is None or not (author.admin or questionnaire.owner_id == author.user_id):
        raise QuestionnaireNotFound()
    return questionnaire


async def update_draft(
    uow: UnitOfWork,
    author: Caller,
    questionnaire_id: uuid.UUID,
    definition: Definition,
    now: datetime,
) -> Questionnaire:
    """Replace the draft (the published versions stay as they are)."""
    questionnaire = await authored(uow.session, author, questionnaire_id, lock=True)
    if questionnaire.archived_at is not None:
        raise QuestionnaireArchived()
    problems = definition_problems(definition)
    if definition.code != questionnaire.code:
        problems.insert(
            0, DefinitionProblem(("code",), "code_changed", {"code": questionnaire.code})
        )
    if problems:
        raise InvalidDefinition(problems)
    questionnaire.draft = _document(definition)
    questionnaire.updated_at = now
    return questionnaire


async def publish(
    uow: UnitOfWork, author: Caller, questionnaire_id: uuid.UUID, now: datetime
) -> DefinitionVersion:
    """Freeze the draft as the next version; runs started before keep their version."""
    questionnaire = await authored(uow.session, author, questionnaire_id, lock=True)
    if questionnaire.archived_at is not None:
        raise QuestionnaireArchived()
    if questionnaire.latest_version:
        latest = await _version(uow.session, questionnaire.id, questionnaire.latest_version)
        if latest.definition == questionnaire.draft:
            raise NothingToPublish()
    version = DefinitionVersion(
        id=uuid.uuid4(),
        questionnaire_id=questionnaire.id,
        version=questionnaire.latest_version + 1,
        definition=questionnaire.draft,
        published_at=now,
        published_by=author.user_id,
    )
    uow.session.add(version)
    questionnaire.latest_version = version.version
    questionnaire.updated_at = now
    return version


async def archive(
    uow: UnitOfWork, author: Caller, questionnaire_id: uuid.UUID, now: datetime
) -> None:
    """No new runs, drafts or assignments; runs and versions stay."""
    questionnaire = await authored(uow.session, author, questionnaire_id, lock=True)
    if questionnaire.archived_at is None:
        questionnaire.archived_at = now
        questionnaire.updated_at = now


async def drafts(
    session: AsyncSession, author: Caller, *, limit: int, cursor: str | None
) -> tuple[list[Questionnaire], str | None]:
    """Questionnaires the caller may edit (an admin: all), oldest first."""
    query = select(Questionnaire)
    if not author.admin:
        query = query.where(Questionnaire.owner_id == author.user_id)
    return await keyset_page(
        session,
        query,
        order=col(Questionnaire.created_at),
        tiebreak=col(Questionnaire.id),
        limit=limit,
        cursor=cursor,
    )


async def public_list(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[tuple[Questionnaire, Definition]], str | None]:
    """The practice's published questionnaires that take new runs (with their latest
    versions), oldest first."""
    query = select(Questionnaire).where(
        col(Questionnaire.owner_id).is_(None),
        col(Questionnaire.archived_at).is_(None),
        col(Questionnaire.latest_version) > 0,
    )
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=col(Questionnaire.created_at),
        tiebreak=col(Questionnaire.id),
        limit=limit,
        cursor=cursor,
    )
    if not rows:
        return [], next_cursor
    latest = await session.exec(
        select(DefinitionVersion).where(
            tuple_(col(DefinitionVersion.questionnaire_id), col(DefinitionVersion.version)).in_(
                [(q.id, q.latest_version) for q in rows]
            )
        )
    )
    by_id = {v.questionnaire_id: definition_of(v) for v in latest.all()}
    return [(q, by_id[q.id]) for q in rows], next_cursor


async def _version(
    session: AsyncSession, questionnaire_id: uuid.UUID, version: int
) -> DefinitionVersion:
    row = (
        await session.exec(
            select(DefinitionVersion).where(
                DefinitionVersion.questionnaire_id == questionnaire_id,
                DefinitionVersion.version == version,
            )
        )
    ).first()
    if row is None:
        raise VersionNotFound()
    return row


async def may_take(
    session: AsyncSession, questionnaire: Questionnaire, caller: Caller | None
) -> bool:
    """Whether ``caller`` (``None``: anonymous) may read and take ``questionnaire``: the
    practice's are public; a specialist's are for them, admins and the clients they assigned
    it to."""
    if questionnaire.owner_id is None:
        return True
    if caller is None:
        return False
    if caller.admin or caller.user_id == questionnaire.owner_id:
        return True
    assigned = await session.exec(
        select(
            exists().where(
                col(Assignment.questionnaire_id) == questionnaire.id,
                col(Assignment.client_id) == caller.user_id,
            )
        )
    )
    return bool(assigned.one())


async def published(
    session: AsyncSession,
    questionnaire_id: uuid.UUID,
    caller: Caller | None,
    version: int | None = None,
) -> tuple[Questionnaire, DefinitionVersion]:
    """A published version (the latest by default) of a questionnaire the caller may take."""
    questionnaire = await session.get(Questionnaire, questionnaire_id)
    if (
        questionnaire is None
        or not questionnaire.latest_version
        or not await may_take(session, questionnaire, caller)
    ):
        raise QuestionnaireNotFound()
    return questionnaire, await _version(
        session, questionnaire.id, version or questionnaire.latest_version
    )


def definition_of(version: DefinitionVersion) -> Definition:
    """The definition a published version holds."""
    return Definition.model_validate(version.definition)
