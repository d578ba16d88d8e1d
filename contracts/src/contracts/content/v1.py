"""content events, version 1."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.data_rights import DataExportPart, UserDataErased
from contracts.registry import event
from contracts.types import HEALTH_DATA, Language, Payload, PersonalData, UtcDateTime

SeverityBand = Literal["minimal", "mild", "moderate", "moderately_severe", "severe"]
"""Published PHQ-9 bands (GAD-7 uses minimal, mild, moderate, severe)."""


@event("content.item.published", version=1, aggregate="item_id")
class ItemPublishedV1(Payload):
    """A content item (article, resource, approved user post) became public, or a new revision
    of it did. Consumers: notify (announcements to users who agreed to marketing messages).
    """

    item_id: UUID
    kind: Literal["article", "resource", "user_post"]
    slug: str = Field(min_length=1)
    title: str
    summary: str | None = None
    language: Language
    tags: list[str] = Field(default_factory=list)
    author_id: UUID | None = None
    revision: int = Field(ge=1)
    first_publication: bool
    published_at: UtcDateTime


@event("content.interactive_run.completed", version=1, aggregate="run_id")
class InteractiveRunCompletedV1(Payload):
    """A user finished a questionnaire (PHQ-9, GAD-7, ...), scored by the definition version the
    run started on. ``crisis`` is set whatever the total when a crisis item is positive (PHQ-9
    item 9 > 0). Consumers: notify (immediate alert to the client's specialist on a crisis;
    suggestion to book an intake when ``suggest_intake``).
    """

    run_id: UUID
    user_id: UUID
    questionnaire_id: UUID
    questionnaire_code: str = Field(min_length=1, examples=["phq9", "gad7"])
    definition_version: int = Field(ge=1)
    score: int = Field(ge=0, json_schema_extra=HEALTH_DATA)
    max_score: int = Field(ge=0)
    band: SeverityBand = Field(json_schema_extra=HEALTH_DATA)
    crisis: bool = Field(json_schema_extra=HEALTH_DATA)
    crisis_reasons: list[str] = Field(
        default_factory=list,
        json_schema_extra=HEALTH_DATA,
        description="Why the crisis flag is set, e.g. ['phq9_item9']",
    )
    suggest_intake: bool = Field(description="Score warrants an intake session (>= 10)")
    assigned_by_specialist_id: UUID | None = Field(
        default=None, description="Specialist who asked the client to take it, if any"
    )
    completed_at: UtcDateTime


@event("content.assignment.created", version=1, aggregate="assignment_id")
class AssignmentCreatedV1(Payload):
    """A specialist asked one of their clients to take a questionnaire by ``due_at``, once or
    every ``repeat_every_days`` after each completion. Ids and times only: the client's name
    and contacts are the consumer's own copy. Consumers: notify (tells the client, with a link
    to take it).
    """

    assignment_id: UUID
    client_id: UUID
    specialist_id: UUID
    questionnaire_id: UUID
    questionnaire_code: str = Field(min_length=1, examples=["phq9", "gad7"])
    due_at: UtcDateTime
    repeat_every_days: int | None = Field(default=None, ge=1)
    created_at: UtcDateTime


@event("content.assignment.overdue", version=1, aggregate="assignment_id")
class AssignmentOverdueV1(Payload):
    """An assigned questionnaire was not taken by its due date (``occurrence`` counts the due
    dates of a repeating assignment, the first is 1). Consumers: notify (reminds the client,
    tells the specialist).
    """

    assignment_id: UUID
    client_id: UUID
    specialist_id: UUID
    questionnaire_id: UUID
    questionnaire_code: str = Field(min_length=1, examples=["phq9", "gad7"])
    due_at: UtcDateTime
    occurrence: int = Field(ge=1)


@event("content.moderation.decided", version=1, aggregate="item_id")
class ModerationDecidedV1(Payload):
    """A moderator decided on a user-generated item. Consumers: notify (tells the author)."""

    item_id: UUID
    item_title: str
    author_id: UUID
    moderator_id: UUID
    decision: Literal["approved", "rejected", "changes_requested"]
    reason: PersonalData | None = Field(
        default=None, description="Shown to the author (free text about their post)"
    )


@event("content.run_contact.left", version=1, aggregate="run_id")
class RunContactLeftV1(Payload):
    """The taker of an anonymous questionnaire run left a contact and agreed to be contacted
    by the practice about it (``consented_at``: a consent given with this request, recorded
    with the lead). The contact travels sealed; the run's answers, score and crisis flag do not
    travel at all. Consumers: cabinet (a lead with a ``questionnaire`` touch).
    """

    run_id: UUID
    questionnaire_id: UUID
    questionnaire_code: str = Field(min_length=1, examples=["phq9", "gad7"])
    completed_at: UtcDateTime | None = Field(
        default=None, description="When the run was completed (None: left before completing)"
    )
    email: PersonalData | None = None
    phone: PersonalData | None = Field(default=None, description="E.164")
    name: PersonalData | None = None
    utm_source: str | None = Field(default=None, max_length=64)
    utm_medium: str | None = Field(default=None, max_length=64)
    utm_campaign: str | None = Field(default=None, max_length=64)
    consented_at: UtcDateTime = Field(
        description="When the person agreed to be contacted (the contact was left)"
    )


@event("content.data_export.part_ready", version=1, aggregate="export_id")
class DataExportPartReadyV1(DataExportPart):
    """content's part of a user's data export (questionnaire runs, own items) is ready.

    Consumers: cabinet (assembles the export).
    """


@event("content.user_data.erased", version=1, aggregate="user_id")
class UserDataErasedV1(UserDataErased):
    """content erased a user's personal data. Consumers: cabinet (closes the erasure request)."""
