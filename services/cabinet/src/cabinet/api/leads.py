"""CRM leads for the practice (admins; docs/leads.md): campaigns with their Telegram links,
the leads pipeline (status, notes), the funnel as JSON, CSV and PNG; and ``/me/touches``, where
a front end reports the UTM values a signed-in person arrived with (say, on the booking page).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.fields import get_keyring
from servicekit.security.jwt import Principal

from cabinet.adapters.funnel_chart import render_png
from cabinet.adapters.lead_tables import Campaign, Lead
from cabinet.api.common import CabinetDep
from cabinet.application import leads
from cabinet.domain.leads import FunnelRow

router = APIRouter(tags=["leads"])
Admin = Depends(require_roles("admin"))

UtmLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
"""A UTM value (``utm_source``, ``utm_medium``, ``utm_campaign``) or a campaign's label."""

LeadStatus = Literal["new", "contacted", "converted", "lost"]


# -- campaigns -------------------------------------------------------------------------------


class CampaignCreate(BaseModel):
    """A new campaign: its UTM values and what its Telegram link opens."""

    name: SafeText = Field(min_length=1, max_length=200, description="For the practice")
    source: UtmLabel = Field(description="utm_source, e.g. vk, instagram, flyer")
    medium: UtmLabel | None = Field(default=None, description="utm_medium, e.g. post, cpc")
    campaign: UtmLabel = Field(description="utm_campaign: unique among campaigns")
    service_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None


class Utm(BaseModel):
    """The UTM parameters a front end puts on the campaign's web links."""

    utm_source: str
    utm_medium: str | None
    utm_campaign: str


class CampaignPublic(BaseModel):
    """A campaign, with its Telegram link (many people may open it, until it is revoked)."""

    id: uuid.UUID
    name: str
    source: str
    medium: str | None
    campaign: str
    service_id: uuid.UUID | None
    specialist_id: uuid.UUID | None
    telegram_link: str = Field(examples=["https://t.me/praktika_bot?start=..."])
    utm: Utm
    created_at: datetime
    revoked_at: datetime | None


class CampaignList(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None = None


def _campaign(row: Campaign, bot: str) -> CampaignPublic:
    return CampaignPublic(
        id=row.id,
        name=row.name,
        source=row.source,
        medium=row.medium,
        campaign=row.campaign,
        service_id=row.service_id,
        specialist_id=row.specialist_id,
        telegram_link=f"https://t.me/{bot}?start={row.token}",
        utm=Utm(utm_source=row.source, utm_medium=row.medium, utm_campaign=row.campaign),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@router.post(
    "/campaigns",
    response_model=CampaignPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign and its Telegram link (admin)",
    responses=problem_responses(409),
)
async def create_campaign(
    body: CampaignCreate, uow: UowDep, now: NowDep, ports: CabinetDep, admin: Principal = Admin
) -> CampaignPublic:
    row = await leads.create_campaign(
        uow, leads.CampaignRequest(**body.model_dump()), by=admin.user_id, now=now
    )
    return _campaign(row, ports.settings.telegram_bot_username)


@router.get(
    "/campaigns",
    response_model=CampaignList,
    summary="Campaigns, newest first (admin)",
    dependencies=[Admin],
)
async def list_campaigns(
    uow: UowDep, ports: CabinetDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> CampaignList:
    rows, next_cursor = await leads.campaigns(uow, limit=limit, cursor=cursor)
    bot = ports.settings.telegram_bot_username
    return CampaignList(items=[_campaign(r, bot) for r in rows], next_cursor=next_cursor)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignPublic,
    summary="A campaign (admin)",
    responses=problem_responses(404),
    dependencies=[Admin],
)
async def get_campaign(campaign_id: uuid.UUID, uow: UowDep, ports: CabinetDep) -> CampaignPublic:
    return _campaign(await leads.campaign(uow, campaign_id), ports.settings.telegram_bot_username)


@router.post(
    "/campaigns/{campaign_id}/revoke",
    response_model=CampaignPublic,
    summary="Revoke a campaign's link: it creates no more leads (admin)",
    responses=problem_responses(404),
)
async def revoke_campaign(
    campaign_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    ports: CabinetDep,
    admin: Principal = Admin,
) -> CampaignPublic:
    row = await leads.revoke_campaign(uow, campaign_id, by=admin.user_id, now=now)
    return _campaign(row, ports.settings.telegram_bot_username)


# -- leads -----------------------------------------------------------------------------------


class TouchPublic(BaseModel):
    """Where a touch came from."""

    channel: str
    source: str | None
    medium: str | None
    campaign: str | None
    campaign_id: uuid.UUID | None
    at: datetime


class LeadPublic(BaseModel):
    """A lead as the practice sees it (its contacts decrypted)."""

    id: uuid.UUID
    status: LeadStatus
    status_changed_at: datetime
    status_changed_by: uuid.UUID | None = Field(description="None: the system (conversion)")
    user_id: uuid.UUID | None
    email: str | None
    phone: str | None
    name: str | None
    telegram_username: str | None
    contact_consented_at: datetime | None = Field(
        description="When the person agreed to be contacted with the contact they left (an "
        "anonymous questionnaire run's contact form); None: never asked"
    )
    first_touch: TouchPublic
    last_touch: TouchPublic
    first_booked_at: datetime | None
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class StatusChangePublic(BaseModel):
    from_status: str
    to_status: str
    changed_by: uuid.UUID | None
    at: datetime


class NotePublic(BaseModel):
    id: uuid.UUID
    author_id: uuid.UUID
    text: str
    created_at: datetime


class LeadDetail(LeadPublic):
    """A lead with its history and notes."""

    touches: list[TouchPublic]
    status_changes: list[StatusChangePublic]
    notes: list[NotePublic]


class LeadList(BaseModel):
    items: list[LeadPublic]
    next_cursor: str | None = None


class LeadUpdate(BaseModel):
    """The practice moves a lead (``converted`` is set by the first completed session)."""

    status: Literal["new", "contacted", "lost"]


class NoteCreate(BaseModel):
    text: SafeText = Field(min_length=1, max_length=5000)


def _touch(lead: Lead, prefix: str) -> TouchPublic:
    return TouchPublic(
        channel=getattr(lead, f"{prefix}_channel"),
        source=getattr(lead, f"{prefix}_source"),
        medium=getattr(lead, f"{prefix}_medium"),
        campaign=getattr(lead, f"{prefix}_campaign"),
        campaign_id=getattr(lead, f"{prefix}_campaign_id"),
        at=getattr(lead, f"{prefix}_at"),
    )


def _lead(lead: Lead) -> LeadPublic:
    return LeadPublic(
        id=lead.id,
        status=lead.status,
        status_changed_at=lead.status_changed_at,
        status_changed_by=lead.status_changed_by,
        user_id=lead.user_id,
        email=lead.email,
        phone=lead.phone,
        name=lead.name,
        telegram_username=lead.telegram_username,
        contact_consented_at=lead.contact_consented_at,
        first_touch=_touch(lead, "first"),
        last_touch=_touch(lead, "last"),
        first_booked_at=lead.first_booked_at,
        converted_at=lead.converted_at,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
    )


async def _detail(uow: UowDep, lead: Lead) -> LeadDetail:
    touches, changes, notes = await leads.history(uow, lead.id)
    return LeadDetail(
        **_lead(lead).model_dump(),
        touches=[TouchPublic.model_validate(t, from_attributes=True) for t in touches],
        status_changes=[
            StatusChangePublic.model_validate(c, from_attributes=True) for c in changes
        ],
        notes=[NotePublic.model_validate(n, from_attributes=True) for n in notes],
    )


@router.get(
    "/leads",
    response_model=LeadList,
    summary="Leads, newest first; filters by status and first-touch source or campaign (admin)",
    dependencies=[Admin],
)
async def list_leads(
    uow: UowDep,
    status_filter: Annotated[LeadStatus | None, Query(alias="status")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    campaign: Annotated[str | None, Query(max_length=64)] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> LeadList:
    rows, next_cursor = await leads.leads(
        uow, status=status_filter, source=source, campaign=campaign, limit=limit, cursor=cursor
    )
    return LeadList(items=[_lead(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    summary="A lead with its touches, status changes and notes (admin)",
    responses=problem_responses(404),
    dependencies=[Admin],
)
async def get_lead(lead_id: uuid.UUID, uow: UowDep) -> LeadDetail:
    return await _detail(uow, await leads.lead(uow, lead_id))


@router.patch(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    summary="Move a lead in the pipeline (admin)",
    responses=problem_responses(404, 409),
)
async def update_lead(
    lead_id: uuid.UUID, body: LeadUpdate, uow: UowDep, now: NowDep, admin: Principal = Admin
) -> LeadDetail:
    row = await leads.change_status(uow, lead_id, body.status, by=admin.user_id, now=now)
    return await _detail(uow, row)


@router.post(
    "/leads/{lead_id}/notes",
    response_model=NotePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a note to a lead (admin; stored encrypted)",
    responses=problem_responses(404),
)
async def add_note(
    lead_id: uuid.UUID, body: NoteCreate, uow: UowDep, now: NowDep, admin: Principal = Admin
) -> NotePublic:
    note = await leads.add_note(uow, lead_id, body.text, by=admin.user_id, now=now)
    return NotePublic.model_validate(note, from_attributes=True)


@router.delete(
    "/leads/{lead_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget a lead and its history (admin: a person without an account asked)",
    responses=problem_responses(404),
    dependencies=[Admin],
)
async def delete_lead(lead_id: uuid.UUID, uow: UowDep) -> Response:
    await leads.delete_lead(uow, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- touches from the front end --------------------------------------------------------------


class TouchCreate(BaseModel):
    """The UTM values a signed-in person arrived with (say, on the booking page)."""

    utm_source: UtmLabel | None = None
    utm_medium: UtmLabel | None = None
    utm_campaign: UtmLabel | None = None


class TouchRecorded(BaseModel):
    status: Literal["recorded"] = "recorded"


@router.post(
    "/me/touches",
    response_model=TouchRecorded,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Report the UTM values I arrived with (a front end calls it, e.g. when booking)",
)
async def add_touch(
    body: TouchCreate, principal: CurrentPrincipal, uow: UowDep, now: NowDep
) -> TouchRecorded:
    touch = await leads.campaign_touch(
        uow,
        channel="web",
        at=now,
        source=body.utm_source,
        medium=body.utm_medium,
        campaign=body.utm_campaign,
    )
    await leads.touched(uow, get_keyring(), leads.Contact(user_id=principal.user_id), touch)
    await uow.commit()
    return TouchRecorded()


# -- the funnel ------------------------------------------------------------------------------


class FunnelLine(BaseModel):
    """Leads first touched by one source and campaign, and how far they got."""

    source: str
    campaign: str
    leads: int
    booked: int = Field(description="Reached a first booking")
    converted: int = Field(description="Reached a first completed session")
    booking_rate: float
    conversion_rate: float
    median_hours_to_convert: float | None = Field(description="First touch to first session")
    revenue_90d: int = Field(description="Kopecks, net of refunds, 90 days from first booking")


class FunnelReport(BaseModel):
    since: datetime
    until: datetime
    rows: list[FunnelLine]
    total: FunnelLine


Since = Annotated[AwareDatetime | None, Query(description="Default: 30 days before `until`")]
Until = Annotated[AwareDatetime | None, Query(description="Default: now")]


def _line(row: FunnelRow) -> FunnelLine:
    return FunnelLine(
        source=row.source,
        campaign=row.campaign,
        leads=row.leads,
        booked=row.booked,
        converted=row.converted,
        booking_rate=row.booking_rate,
        conversion_rate=row.conversion_rate,
        median_hours_to_convert=row.median_hours_to_convert,
        revenue_90d=row.revenue_90d,
    )


async def _report(
    uow: UowDep, now: datetime, since: datetime | None, until: datetime | None
) -> FunnelReport:
    until = until or now
    since = since or until - timedelta(days=30)
    rows, total = await leads.funnel_report(uow, since, until)
    return FunnelReport(since=since, until=until, rows=[_line(r) for r in rows], total=_line(total))


@router.get(
    "/lead-funnel",
    response_model=FunnelReport,
    summary="The funnel of leads first touched in [since, until) (admin)",
    dependencies=[Admin],
)
async def funnel_json(
    uow: UowDep, now: NowDep, since: Since = None, until: Until = None
) -> FunnelReport:
    return await _report(uow, now, since, until)


CSV_COLUMNS = tuple(FunnelLine.model_fields)


@router.get(
    "/lead-funnel.csv",
    response_class=Response,
    summary="The funnel as CSV (admin)",
    responses={200: {"description": "text/csv, one line per source and campaign, then the total"}},
    dependencies=[Admin],
)
async def funnel_csv(
    uow: UowDep, now: NowDep, since: Since = None, until: Until = None
) -> Response:
    report = await _report(uow, now, since, until)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in [*report.rows, report.total]:
        writer.writerow(line.model_dump())
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="lead-funnel.csv"'},
    )


@router.get(
    "/lead-funnel.png",
    response_class=Response,
    summary="The funnel as a PNG chart (admin)",
    responses={200: {"description": "image/png"}},
    dependencies=[Admin],
)
async def funnel_png(
    uow: UowDep, now: NowDep, since: Since = None, until: Until = None
) -> Response:
    until = until or now
    since = since or until - timedelta(days=30)
    rows, total = await leads.funnel_report(uow, since, until)
    return Response(
        render_png(rows, total, since, until),
        media_type="image/png",
        headers={"Cache-Control": "private, no-store"},
    )
