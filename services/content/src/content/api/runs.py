"""Runs (``/runs``): taking a questionnaire, anonymously or signed in.

An anonymous run is started without a token and answered with the run token its start gave
(``X-Run-Token``; shown once, stored hashed); the account created afterwards claims it once. A
signed-in client's answers are stored only while their health-data consent counts. Completing
scores the run by the version it started on and answers at once with the score, the band and
its meaning, the subscales, the crisis flag with its reasons and, for a crisis, the help lines
and the practice's contact. A client reads only their own runs (404 for anyone else's); their
specialist reads them with the client's consent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import Run
from content.api.deps import MaybeSignedIn, RunToken, SettingsDep, SignedIn
from content.application import runs
from content.application.runs import RunView, StoredResult, Taker
from content.config import Bilingual, ContentSettings, CrisisLine, PracticeContact
from content.domain.definitions import MAX_ITEMS, Code, Label, Passage

router = APIRouter(prefix="/runs", tags=["questionnaire runs"])

ItemPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="The item's id")]
Answers = Annotated[dict[Code, Code], Field(max_length=MAX_ITEMS)]


class RunStart(BaseModel):
    """Which questionnaire to take (its latest published version)."""

    model_config = ConfigDict(extra="forbid")

    questionnaire_id: uuid.UUID
    assignment_id: uuid.UUID | None = Field(
        default=None,
        description="The assignment this run fulfils (signed in); by default the oldest open "
        "assignment of this questionnaire, if any",
    )


class AnswerWrite(BaseModel):
    """The option chosen for one item."""

    model_config = ConfigDict(extra="forbid")

    option: Code


class AnswersWrite(BaseModel):
    """Answers to several items at once: item id → option id."""

    model_config = ConfigDict(extra="forbid")

    answers: Answers = Field(min_length=1)


class CompleteWrite(BaseModel):
    """Last answers, if any, to store before the run is scored."""

    model_config = ConfigDict(extra="forbid")

    answers: Answers = Field(default_factory=dict)


class BandPublic(BaseModel):
    """The severity band a score falls in, and what it means."""

    code: str
    min: int
    max: int
    label: Label
    interpretation: Passage


class SubscalePublic(BaseModel):
    """A subscale's score."""

    id: str
    label: Label
    score: int


class CrisisResources(BaseModel):
    """What a person whose answers raise a crisis flag is shown at once."""

    message: Bilingual
    lines: list[CrisisLine]
    practice: PracticeContact | None
    specialist_alerted: bool = Field(
        description="The client's specialist is being alerted (signed-in runs; an anonymous "
        "run reaches nobody until it is claimed)"
    )


class ResultPublic(BaseModel):
    """A completed run's result."""

    score: int
    min_score: int
    max_score: int
    band: BandPublic
    subscales: list[SubscalePublic]
    crisis: bool
    crisis_reasons: list[str]
    suggest_intake: bool = Field(description="The score suggests booking an intake session")
    crisis_resources: CrisisResources | None


class RunPublic(BaseModel):
    """A run: its answers so far, what is left to answer, and the result once completed."""

    id: uuid.UUID
    questionnaire_id: uuid.UUID
    questionnaire_code: str
    definition_version: int = Field(description="The version it is scored by")
    status: str = Field(description="in_progress or completed")
    user_id: uuid.UUID | None
    assignment_id: uuid.UUID | None
    started_at: datetime
    completed_at: datetime | None
    answers: dict[str, str]
    asked: list[str] = Field(
        description="The items asked given the answers so far, in order (a conditional item "
        "appears once its condition holds)"
    )
    unanswered: list[str] = Field(description="Items that must still be answered, in order")
    result: ResultPublic | None


class RunStarted(RunPublic):
    """A new run; an anonymous one with its run token (shown this once)."""

    run_token: str | None = Field(
        description="Send as X-Run-Token to answer, read and claim an anonymous run"
    )


class RunSummary(BaseModel):
    """A run in a list."""

    id: uuid.UUID
    questionnaire_id: uuid.UUID
    definition_version: int
    status: str
    started_at: datetime
    completed_at: datetime | None
    score: int | None
    band: str | None
    crisis: bool | None


def _result(v: RunView, settings: ContentSettings) -> ResultPublic | None:
    r = v.result
    if r is None:
        return None
    band = next(b for b in v.definition.bands if b.code == r.band)
    crisis = (
        CrisisResources(
            message=settings.crisis_message,
            lines=settings.crisis_lines,
            practice=settings.practice_contact,
            specialist_alerted=v.run.user_id is not None,
        )
        if r.crisis
        else None
    )
    return ResultPublic(
        score=r.score,
        min_score=r.min_score,
        max_score=r.max_score,
        band=BandPublic(
            code=band.code,
            min=band.min,
            max=band.max,
            label=band.label,
            interpretation=band.interpretation,
        ),
        subscales=[
            SubscalePublic(id=s.id, label=s.label, score=r.subscales[s.id])
            for s in v.definition.subscales
        ],
        crisis=r.crisis,
        crisis_reasons=r.crisis_reasons,
        suggest_intake=r.suggest_intake,
        crisis_resources=crisis,
    )


def _public(v: RunView, settings: ContentSettings) -> RunPublic:
    run = v.run
    return RunPublic(
        id=run.id,
        questionnaire_id=run.questionnaire_id,
        questionnaire_code=v.questionnaire_code,
        definition_version=run.definition_version,
        status=run.status,
        user_id=run.user_id,
        assignment_id=run.assignment_id,
        started_at=run.started_at,
        completed_at=run.completed_at,
        answers=v.answers,
        asked=v.asked,
        unanswered=v.unanswered,
        result=_result(v, settings),
    )


def _summary(run: Run) -> RunSummary:
    result = StoredResult.read(run.result) if run.result else None
    return RunSummary(
        id=run.id,
        questionnaire_id=run.questionnaire_id,
        definition_version=run.definition_version,
        status=run.status,
        started_at=run.started_at,
        completed_at=run.completed_at,
        score=result.score if result else None,
        band=result.band if result else None,
        crisis=result.crisis if result else None,
    )


@router.post(
    "",
    response_model=RunStarted,
    status_code=status.HTTP_201_CREATED,
    summary="Start a run: anonymously (a run token comes back) or signed in (needs the "
    "health-data consent)",
    responses=problem_responses(403, 404, 409),
)
async def start_run(
    body: RunStart, uow: UowDep, now: NowDep, caller: MaybeSignedIn, settings: SettingsDep
) -> RunStarted:
    started = await runs.start(
        uow,
        questionnaire_id=body.questionnaire_id,
        caller=caller,
        assignment_id=body.assignment_id,
        now=now,
    )
    result = RunStarted(**_public(started, settings).model_dump(), run_token=started.token)
    await uow.commit()
    return result


@router.get(
    "",
    response_model=Page[RunSummary],
    summary="A client's runs, newest first: one's own, or (a specialist, with the client's "
    "consent) a client's",
    responses=problem_responses(403, 404),
)
async def list_runs(
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    client_id: Annotated[
        uuid.UUID | None, Query(description="Whose runs (default: the caller's own)")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[RunSummary]:
    rows, next_cursor = await runs.runs_of(
        uow.session, caller, client_id or caller.user_id, now, limit=limit, cursor=cursor
    )
    return Page[RunSummary](items=[_summary(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{run_id}",
    response_model=RunPublic,
    summary="One run (its taker: signed in or by run token; or the client's specialist with "
    "consent)",
    responses=problem_responses(403, 404),
)
async def read_run(
    run_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    settings: SettingsDep,
    token: RunToken = None,
) -> RunPublic:
    return _public(await runs.readable(uow.session, run_id, Taker(caller, token), now), settings)


@router.put(
    "/{run_id}/answers/{item_id}",
    response_model=RunPublic,
    summary="Answer one item (again: the new option replaces the old)",
    responses=problem_responses(403, 404, 409, 422),
)
async def answer_item(
    run_id: uuid.UUID,
    item_id: ItemPath,
    body: AnswerWrite,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    settings: SettingsDep,
    token: RunToken = None,
) -> RunPublic:
    view = await runs.answer(uow, run_id, Taker(caller, token), {item_id: body.option}, now)
    result = _public(view, settings)
    await uow.commit()
    return result


@router.put(
    "/{run_id}/answers",
    response_model=RunPublic,
    summary="Answer several items at once",
    responses=problem_responses(403, 404, 409, 422),
)
async def answer_items(
    run_id: uuid.UUID,
    body: AnswersWrite,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    settings: SettingsDep,
    token: RunToken = None,
) -> RunPublic:
    view = await runs.answer(uow, run_id, Taker(caller, token), body.answers, now)
    result = _public(view, settings)
    await uow.commit()
    return result


@router.post(
    "/{run_id}/complete",
    response_model=RunPublic,
    summary="Complete a run: score, band, crisis flag and, for a crisis, help at once",
    responses=problem_responses(
        403, 404, 409, 422, descriptions={409: "run_completed, answers_missing"}
    ),
)
async def complete_run(
    run_id: uuid.UUID,
    body: CompleteWrite,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    settings: SettingsDep,
    token: RunToken = None,
) -> RunPublic:
    view = await runs.complete(uow, run_id, Taker(caller, token), body.answers, now)
    result = _public(view, settings)
    await uow.commit()
    return result


@router.post(
    "/{run_id}/claim",
    response_model=RunPublic,
    summary="Claim an anonymous run for the signed-in account, by its run token (once)",
    responses=problem_responses(403, 404, 409),
)
async def claim_run(
    run_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    settings: SettingsDep,
    token: RunToken = None,
) -> RunPublic:
    view = await runs.claim(uow, run_id, Taker(caller, token), now)
    result = _public(view, settings)
    await uow.commit()
    return result
