"""Taking a questionnaire: start (anonymously with a run token, or signed in), answer item by
item or all at once, complete (score, band, crisis), claim an anonymous run afterwards.

A run is scored by the definition version it started on, whatever was published since. Answers
are health data: stored encrypted, and for a signed-in client only while their health-data
consent counts. Completing a signed-in run (or claiming a completed anonymous one) emits
``content.interactive_run.completed`` (scores and flags, never the answers); notify alerts the
client's specialist on a crisis.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from contracts.content.v1 import InteractiveRunCompletedV1, SeverityBand
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Assignment, DefinitionVersion, Questionnaire, Run, RunAnswer
from content.application import access, assignments, consents, definitions
from content.application.callers import Caller
from content.application.refusals import (
    QuestionnaireArchived,
    RunAlreadyClaimed,
    RunCompleted,
    RunNotFound,
)
from content.domain.definitions import Definition
from content.domain.scoring import (
    Result,
    check_answer,
    kept_answers,
    score,
    shown_items,
    unanswered,
)

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


def token_hash(token: str) -> str:
    """What is stored of a run token (the token itself is shown once)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Taker:
    """Who is taking or reading a run: a signed-in caller, a run token, or both (a claim)."""

    caller: Caller | None = None
    token: str | None = None

    def holds(self, run: Run) -> bool:
        """Whether this is the run's own taker."""
        if run.user_id is not None:
            return self.caller is not None and self.caller.user_id == run.user_id
        return self.has_token_of(run)

    def has_token_of(self, run: Run) -> bool:
        """Whether the run token given is the run's."""
        if self.token is None or run.token_hash is None:
            return False
        return hmac.compare_digest(run.token_hash, token_hash(self.token))


@dataclass(frozen=True)
class StoredResult:
    """A completed run's result as stored (encrypted JSON)."""

    score: int
    min_score: int
    max_score: int
    band: SeverityBand
    subscales: dict[str, int]
    crisis: bool
    crisis_reasons: list[str]
    suggest_intake: bool

    @classmethod
    def of(cls, result: Result) -> StoredResult:
        return cls(
            score=result.total,
            min_score=result.min_total,
            max_score=result.max_total,
            band=result.band.code,
            subscales=dict(result.subscales),
            crisis=result.crisis,
            crisis_reasons=list(result.crisis_reasons),
            suggest_intake=result.suggest_intake,
        )

    @classmethod
    def read(cls, text: str) -> StoredResult:
        return cls(**json.loads(text))

    def text(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))


@dataclass(frozen=True)
class RunView:
    """A run as its reader sees it: the definition it is scored by, the answers so far, what
    is still to answer, and the result once completed."""

    run: Run
    questionnaire_code: str
    definition: Definition
    answers: dict[str, str]
    asked: list[str]
    unanswered: list[str]
    result: StoredResult | None
    token: str | None = None  # only in the answer that started an anonymous run


async def _definition(session: AsyncSession, run: Run) -> Definition:
    version = await session.get(DefinitionVersion, run.version_id)
    assert version is not None  # a foreign key
    return definitions.definition_of(version)


async def answers_of(session: AsyncSession, run_id: uuid.UUID) -> dict[str, str]:
    """A run's answers: item id → option id."""
    rows = await session.exec(select(RunAnswer).where(RunAnswer.run_id == run_id))
    return {a.item_id: a.option for a in rows.all()}


async def view(session: AsyncSession, run: Run, token: str | None = None) -> RunView:
    """What a reader of ``run`` sees."""
    definition = await _definition(session, run)
    answers = await answers_of(session, run.id)
    questionnaire = await session.get(Questionnaire, run.questionnaire_id)
    assert questionnaire is not None
    return RunView(
        run=run,
        questionnaire_code=questionnaire.code,
        definition=definition,
        answers=answers,
        asked=[i.id for i in shown_items(definition, answers)],
        unanswered=[] if run.status == COMPLETED else unanswered(definition, answers),
        result=StoredResult.read(run.result) if run.result else None,
        token=token,
    )


async def start(
    uow: UnitOfWork,
    *,
    questionnaire_id: uuid.UUID,
    caller: Caller | None,
    assignment_id: uuid.UUID | None,
    now: datetime,
) -> RunView:
    """A new run of the latest published version; anonymous runs get a run token."""
    session = uow.session
    questionnaire, version = await definitions.published(session, questionnaire_id, caller)
    if questionnaire.archived_at is not None:
        raise QuestionnaireArchived()
    assignment: Assignment | None = None
    if caller is not None:
        await consents.require_health_consent(session, caller.user_id, now)
        assignment = await assignments.for_new_run(
            session, caller.user_id, questionnaire.id, assignment_id
        )
    elif assignment_id is not None:
        await assignments.for_new_run(session, None, questionnaire.id, assignment_id)
    token = secrets.token_urlsafe(32) if caller is None else None
    run = Run(
        id=uuid.uuid4(),
        questionnaire_id=questionnaire.id,
        version_id=version.id,
        definition_version=version.version,
        user_id=caller.user_id if caller is not None else None,
        token_hash=token_hash(token) if token is not None else None,
        assignment_id=assignment.id if assignment is not None else None,
        status=IN_PROGRESS,
        started_at=now,
    )
    session.add(run)
    await session.flush()
    definition = definitions.definition_of(version)
    return RunView(
        run=run,
        questionnaire_code=questionnaire.code,
        definition=definition,
        answers={},
        asked=[i.id for i in shown_items(definition, {})],
        unanswered=unanswered(definition, {}),
        result=None,
        token=token,
    )


async def _taken(uow: UnitOfWork, run_id: uuid.UUID, taker: Taker, now: datetime) -> Run:
    """The run, locked, for its own taker to change (never someone else's, never completed)."""
    run = await uow.session.get(Run, run_id, with_for_update=True)
    if run is None or not taker.holds(run):
        raise RunNotFound()
    if run.status == COMPLETED:
        raise RunCompleted()
    if run.user_id is not None:
        await consents.require_health_consent(uow.session, run.user_id, now)
    return run


async def _store(
    uow: UnitOfWork, run: Run, definition: Definition, answers: Mapping[str, str], now: datetime
) -> None:
    for item_id, option_id in answers.items():
        check_answer(definition, item_id, option_id)
    if not answers:
        return
    stmt = insert(RunAnswer).values(
        [
            {"run_id": run.id, "item_id": item, "option": option, "answered_at": now}
            for item, option in answers.items()
        ]
    )
    # The same answer again changes nothing but its time; another option replaces it.
    await uow.session.exec(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "item_id"],
            set_={"option": stmt.excluded.option, "answered_at": stmt.excluded.answered_at},
        )
    )


async def answer(
    uow: UnitOfWork, run_id: uuid.UUID, taker: Taker, answers: Mapping[str, str], now: datetime
) -> RunView:
    """Store answers (one item or many); the run can be resumed from them."""
    run = await _taken(uow, run_id, taker, now)
    await _store(uow, run, await _definition(uow.session, run), answers, now)
    return await view(uow.session, run)


async def complete(
    uow: UnitOfWork,
    run_id: uuid.UUID,
    taker: Taker,
    answers: Mapping[str, str],
    now: datetime,
) -> RunView:
    """Score the run by its own version (with any last ``answers``); it is final from here."""
    session = uow.session
    run = await _taken(uow, run_id, taker, now)
    definition = await _definition(session, run)
    await _store(uow, run, definition, answers, now)
    stored = await answers_of(session, run.id)
    kept = kept_answers(definition, stored)
    result = StoredResult.of(score(definition, kept))
    dropped = set(stored) - set(kept)
    if dropped:  # answers to questions that were no longer asked are not kept
        await session.exec(
            delete(RunAnswer).where(
                col(RunAnswer.run_id) == run.id, col(RunAnswer.item_id).in_(dropped)
            )
        )
    run.status, run.completed_at, run.result = COMPLETED, now, result.text()
    assigned_by = await assignments.fulfil(uow, run, now)
    if run.user_id is not None:
        await _announce(uow, run, result, assigned_by)
    return await view(session, run)


async def claim(uow: UnitOfWork, run_id: uuid.UUID, taker: Taker, now: datetime) -> RunView:
    """An anonymous run becomes the signed-in caller's (once, by its run token)."""
    assert taker.caller is not None
    run = await uow.session.get(Run, run_id, with_for_update=True)
    if run is None or not taker.has_token_of(run):
        raise RunNotFound()
    if run.user_id is not None:
        raise RunAlreadyClaimed()
    await consents.require_health_consent(uow.session, taker.caller.user_id, now)
    run.user_id, run.claimed_at = taker.caller.user_id, now
    if run.status == COMPLETED and run.result is not None:
        await _announce(uow, run, StoredResult.read(run.result), None)
    return await view(uow.session, run)


async def readable(
    session: AsyncSession, run_id: uuid.UUID, taker: Taker, now: datetime
) -> RunView:
    """A run for its taker, or for the client's specialist with the client's consent."""
    run = await session.get(Run, run_id)
    if run is None:
        raise RunNotFound()
    if not taker.holds(run):
        caller = taker.caller
        if (
            caller is None
            or run.user_id is None
            or not await access.is_their_specialist(session, caller, run.user_id)
        ):
            raise RunNotFound()
        await consents.require_sharing_with_specialist(session, run.user_id, now)
    return await view(session, run)


async def runs_of(
    session: AsyncSession,
    caller: Caller,
    client_id: uuid.UUID,
    now: datetime,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Run], str | None]:
    """A client's runs, newest first (the client's own, or their specialist's view)."""
    await access.require_client_data_access(session, caller, client_id, now)
    return await keyset_page(
        session,
        select(Run).where(Run.user_id == client_id),
        order=col(Run.started_at),
        tiebreak=col(Run.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


async def _announce(
    uow: UnitOfWork, run: Run, result: StoredResult, assigned_by: uuid.UUID | None
) -> None:
    questionnaire = await uow.session.get(Questionnaire, run.questionnaire_id)
    assert questionnaire is not None and run.user_id is not None and run.completed_at
    uow.emit(
        InteractiveRunCompletedV1(
            run_id=run.id,
            user_id=run.user_id,
            questionnaire_id=run.questionnaire_id,
            questionnaire_code=questionnaire.code,
            definition_version=run.definition_version,
            score=result.score,
            max_score=result.max_score,
            band=result.band,
            crisis=result.crisis,
            crisis_reasons=result.crisis_reasons,
            suggest_intake=result.suggest_intake,
            assigned_by_specialist_id=assigned_by,
            completed_at=run.completed_at,
        )
    )
