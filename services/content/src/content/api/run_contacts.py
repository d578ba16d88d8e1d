"""Leaving a contact on an anonymous run (``POST /runs/{id}/contact``): its taker, by the run
token, asks the practice to contact them, once. content keeps only the fact; the contact goes
to cabinet sealed and becomes a lead there (docs/content.md, docs/leads.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, status
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from servicekit.http.client_ip import caller_address
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.i18n import Msg
from servicekit.http.inputs import SafeText
from servicekit.http.responses import problem_responses
from servicekit.security.fields import normalize_phone

from content.api.deps import RunToken, SettingsDep
from content.application import run_contacts
from content.application.runs import Taker

router = APIRouter(prefix="/runs", tags=["questionnaire runs"])

UtmLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]
"""A UTM value as the front end read it from the page's URL."""


class ContactWrite(BaseModel):
    """How the practice may reach the taker (an email, a phone or both), and their agreement
    to be contacted."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: SafeText | None = Field(
        default=None, max_length=40, description="any common format; sent on as E.164"
    )
    name: SafeText | None = Field(default=None, min_length=1, max_length=200)
    utm_source: UtmLabel | None = None
    utm_medium: UtmLabel | None = None
    utm_campaign: UtmLabel | None = None
    consent_to_contact: Literal[True] = Field(
        description="The person agrees that the practice contacts them about this "
        "questionnaire and a session (must be true; recorded with the lead)"
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)

    @model_validator(mode="after")
    def _reachable(self) -> ContactWrite:
        if self.email is None and self.phone is None:
            raise ValueError(
                Msg(ru="Укажите email или телефон.", en="Give an email or a phone number.")
            )
        return self


class ContactLeft(BaseModel):
    """The contact was handed to the practice."""

    run_id: uuid.UUID
    contact_left_at: datetime


@router.post(
    "/{run_id}/contact",
    response_model=ContactLeft,
    status_code=status.HTTP_201_CREATED,
    summary="Leave a contact on an anonymous run, by its run token, to be contacted by the "
    "practice (once)",
    responses=problem_responses(
        404, 409, 422, 429, descriptions={409: "run_contact_left, run_already_claimed"}
    ),
)
async def leave_contact(
    run_id: uuid.UUID,
    body: ContactWrite,
    request: Request,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    token: RunToken = None,
) -> ContactLeft:
    run = await run_contacts.leave(
        uow,
        run_id,
        Taker(None, token),
        run_contacts.LeftContact(
            email=None if body.email is None else str(body.email),
            phone=body.phone,
            name=body.name,
            utm_source=body.utm_source,
            utm_medium=body.utm_medium,
            utm_campaign=body.utm_campaign,
        ),
        address=caller_address(request),
        limit=run_contacts.Limit(
            key=settings.blind_index_key.encode(),
            per_address_hour=settings.run_contacts_per_address_hour,
        ),
        now=now,
    )
    assert run.contact_left_at is not None
    result = ContactLeft(run_id=run.id, contact_left_at=run.contact_left_at)
    await uow.commit()
    return result
