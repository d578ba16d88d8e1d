"""Trends (``/clients/{client_id}/trends``): a client's scores per questionnaire over time, with
bands, the change since their first run (reliable or not by the questionnaire's published
threshold) and their sessions on the same time axis; as JSON for a front end's chart, and as an
SVG picture drawn here (for mail and for front ends that want a picture).

The client reads their own; their specialist reads a client's with the client's health-data and
transfer-to-the-specialist consents (403 ``consent_required`` without them), only for their
own clients (404 for anyone else).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.i18n import request_language
from servicekit.http.responses import problem_responses

from content.api.charts import ChartPoint, render
from content.api.deps import SignedIn
from content.application import definitions, trends
from content.domain.definitions import Label

router = APIRouter(prefix="/clients", tags=["trends"])


class BandRange(BaseModel):
    """A band drawn behind the scores."""

    code: str
    min: int
    max: int
    label: Label


class PointPublic(BaseModel):
    """One completed run."""

    run_id: uuid.UUID
    completed_at: datetime
    score: int
    band: str
    definition_version: int


class ChangePublic(BaseModel):
    """From the first score to the latest."""

    first: int
    latest: int
    delta: int
    direction: str = Field(description="down, up or none")
    reliable: bool | None = Field(
        description="At least the published reliable-change threshold (None: none is stated)"
    )
    threshold: int | None


class SeriesPublic(BaseModel):
    """A client's results of one questionnaire, oldest first."""

    questionnaire_id: uuid.UUID
    code: str
    title: Label
    min_score: int
    max_score: int
    bands: list[BandRange]
    reliable_change: int | None
    points: list[PointPublic]
    change: ChangePublic | None


class SessionPublic(BaseModel):
    """A session on the same time axis."""

    appointment_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str


class TrendPublic(BaseModel):
    """A client's trend."""

    client_id: uuid.UUID
    questionnaires: list[SeriesPublic]
    sessions: list[SessionPublic]


def _series(s: trends.Series) -> SeriesPublic:
    d = s.definition
    return SeriesPublic(
        questionnaire_id=s.questionnaire_id,
        code=d.code,
        title=d.title,
        min_score=s.min_score,
        max_score=s.max_score,
        bands=[BandRange(code=b.code, min=b.min, max=b.max, label=b.label) for b in d.bands],
        reliable_change=d.reliable_change,
        points=[
            PointPublic(
                run_id=p.run_id,
                completed_at=p.completed_at,
                score=p.score,
                band=p.band,
                definition_version=p.definition_version,
            )
            for p in s.points
        ],
        change=(
            None
            if s.change is None
            else ChangePublic(
                first=s.change.first,
                latest=s.change.latest,
                delta=s.change.delta,
                direction=s.change.direction,
                reliable=s.change.reliable,
                threshold=d.reliable_change,
            )
        ),
    )


@router.get(
    "/{client_id}/trends",
    response_model=TrendPublic,
    summary="A client's scores over time, per questionnaire, with their sessions (the client, "
    "or their specialist with consent)",
    responses=problem_responses(403, 404),
)
async def read_trend(
    client_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    questionnaire_id: uuid.UUID | None = None,
) -> TrendPublic:
    trend = await trends.trend(uow.session, caller, client_id, now, questionnaire_id)
    return TrendPublic(
        client_id=trend.client_id,
        questionnaires=[_series(s) for s in trend.series],
        sessions=[
            SessionPublic(
                appointment_id=a.appointment_id,
                specialist_id=a.specialist_id,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                status=a.status,
            )
            for a in trend.sessions
        ],
    )


@router.get(
    "/{client_id}/trends/{questionnaire_id}/chart.svg",
    response_class=Response,
    summary="The same trend for one questionnaire as an SVG chart (in the caller's language)",
    responses={
        # No "content" entry: generated clients (openapi-python-client) understand JSON, text
        # and octet streams only, and would drop the operation; the type is in the words.
        200: {"description": "The chart, as `image/svg+xml`"},
        **problem_responses(403, 404),
    },
)
async def trend_chart(
    client_id: uuid.UUID,
    questionnaire_id: uuid.UUID,
    request: Request,
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
) -> Response:
    trend = await trends.trend(uow.session, caller, client_id, now, questionnaire_id)
    if trend.series:
        series = trend.series[0]
        definition, low, high = series.definition, series.min_score, series.max_score
        points = [ChartPoint(p.completed_at, p.score) for p in series.points]
    else:
        _, version = await definitions.published(uow.session, questionnaire_id, caller)
        definition = definitions.definition_of(version)
        (low, high), points = definition.total_bounds(), []
    language = request_language(request)
    svg = render(
        title=definition.title.ru if language == "ru" else definition.title.en,
        language=language,
        min_score=low,
        max_score=high,
        bands=definition.bands,
        points=points,
        sessions=[a.starts_at for a in trend.sessions],
        now=now,
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})
