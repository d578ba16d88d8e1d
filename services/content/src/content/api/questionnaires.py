"""Questionnaires: the published ones anyone takes (``/questionnaires``), and their definitions
as admins and specialists write them (drafts, publishing a new version, archiving).

A definition is the JSON document of ``content.domain.definitions.Definition``: validated on
save with every reason in a 422 ``definition_invalid``. Texts are given in both languages
(``{"ru": ..., "en": ...}``); a front end shows the one its user reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import DefinitionVersion, Questionnaire
from content.api.deps import Author, MaybeSignedIn
from content.application import definitions
from content.domain.definitions import Definition, Label

router = APIRouter(prefix="/questionnaires", tags=["questionnaires"])
drafts_router = APIRouter(prefix="/questionnaire-drafts", tags=["questionnaires"])


class DraftWrite(BaseModel):
    """A questionnaire's definition, as its author saves it."""

    model_config = ConfigDict(extra="forbid")

    definition: Definition


class QuestionnaireSummary(BaseModel):
    """A published questionnaire in a list."""

    id: uuid.UUID
    code: str
    title: Label
    version: int
    owner_id: uuid.UUID | None


class PublishedVersion(BaseModel):
    """A published version of a questionnaire: what a run of it asks and how it scores."""

    questionnaire_id: uuid.UUID
    code: str
    version: int
    published_at: datetime
    archived: bool
    definition: Definition


class DraftPublic(BaseModel):
    """A questionnaire as its author sees it: the draft and what is published."""

    id: uuid.UUID
    code: str
    owner_id: uuid.UUID | None
    latest_version: int
    draft: Definition
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


def _draft(q: Questionnaire) -> DraftPublic:
    return DraftPublic(
        id=q.id,
        code=q.code,
        owner_id=q.owner_id,
        latest_version=q.latest_version,
        draft=Definition.model_validate(q.draft),
        created_at=q.created_at,
        updated_at=q.updated_at,
        archived_at=q.archived_at,
    )


def _published(q: Questionnaire, v: DefinitionVersion) -> PublishedVersion:
    return PublishedVersion(
        questionnaire_id=q.id,
        code=q.code,
        version=v.version,
        published_at=v.published_at,
        archived=q.archived_at is not None,
        definition=definitions.definition_of(v),
    )


@router.get(
    "",
    response_model=Page[QuestionnaireSummary],
    summary="The practice's published questionnaires (anyone, no token needed)",
)
async def list_questionnaires(
    uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[QuestionnaireSummary]:
    rows, next_cursor = await definitions.public_list(uow.session, limit=limit, cursor=cursor)
    return Page[QuestionnaireSummary](
        items=[
            QuestionnaireSummary(
                id=q.id,
                code=q.code,
                title=d.title,
                version=q.latest_version,
                owner_id=q.owner_id,
            )
            for q, d in rows
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/{questionnaire_id}",
    response_model=PublishedVersion,
    summary="The latest published version of a questionnaire",
    responses=problem_responses(404),
)
async def read_questionnaire(
    questionnaire_id: uuid.UUID, uow: UowDep, caller: MaybeSignedIn
) -> PublishedVersion:
    q, v = await definitions.published(uow.session, questionnaire_id, caller)
    return _published(q, v)


@router.get(
    "/{questionnaire_id}/versions/{version}",
    response_model=PublishedVersion,
    summary="One published version (a run is scored by the version it started on)",
    responses=problem_responses(404),
)
async def read_version(
    questionnaire_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    uow: UowDep,
    caller: MaybeSignedIn,
) -> PublishedVersion:
    q, v = await definitions.published(uow.session, questionnaire_id, caller, version)
    return _published(q, v)


@router.post(
    "",
    response_model=DraftPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Write a new questionnaire (admin: the practice's; specialist: their own)",
    responses=problem_responses(409, 422),
)
async def create_questionnaire(
    body: DraftWrite, uow: UowDep, now: NowDep, author: Author
) -> DraftPublic:
    questionnaire = await definitions.create(uow, author, body.definition, now)
    result = _draft(questionnaire)
    await uow.commit()
    return result


@router.post(
    "/{questionnaire_id}/publish",
    response_model=PublishedVersion,
    status_code=status.HTTP_201_CREATED,
    summary="Publish the draft as the next version (runs keep the version they started on)",
    responses=problem_responses(404, 409),
)
async def publish_questionnaire(
    questionnaire_id: uuid.UUID, uow: UowDep, now: NowDep, author: Author
) -> PublishedVersion:
    version = await definitions.publish(uow, author, questionnaire_id, now)
    questionnaire = await definitions.authored(uow.session, author, questionnaire_id)
    result = _published(questionnaire, version)
    await uow.commit()
    return result


@router.delete(
    "/{questionnaire_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Archive a questionnaire: no new runs or assignments (its runs stay)",
    responses=problem_responses(404),
)
async def archive_questionnaire(
    questionnaire_id: uuid.UUID, uow: UowDep, now: NowDep, author: Author
) -> None:
    await definitions.archive(uow, author, questionnaire_id, now)
    await uow.commit()


@drafts_router.get(
    "",
    response_model=Page[DraftPublic],
    summary="Questionnaires the caller writes (an admin: all), with their drafts",
)
async def list_drafts(
    uow: UowDep, author: Author, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[DraftPublic]:
    rows, next_cursor = await definitions.drafts(uow.session, author, limit=limit, cursor=cursor)
    return Page[DraftPublic](items=[_draft(q) for q in rows], next_cursor=next_cursor)


@drafts_router.get(
    "/{questionnaire_id}",
    response_model=DraftPublic,
    summary="A questionnaire's draft (its author or an admin)",
    responses=problem_responses(404),
)
async def read_draft(questionnaire_id: uuid.UUID, uow: UowDep, author: Author) -> DraftPublic:
    return _draft(await definitions.authored(uow.session, author, questionnaire_id))


@drafts_router.put(
    "/{questionnaire_id}",
    response_model=DraftPublic,
    summary="Replace a questionnaire's draft (validated; published versions do not change)",
    responses=problem_responses(404, 409, 422),
)
async def write_draft(
    questionnaire_id: uuid.UUID, body: DraftWrite, uow: UowDep, now: NowDep, author: Author
) -> DraftPublic:
    questionnaire = await definitions.update_draft(
        uow, author, questionnaire_id, body.definition, now
    )
    result = _draft(questionnaire)
    await uow.commit()
    return result
