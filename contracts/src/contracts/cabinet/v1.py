"""cabinet events, version 1.

User events carry the user's full current contact state (event-carried state transfer): a
consumer keeps its own copy (notify, booking) by replacing it with the latest event's fields.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from contracts.registry import event
from contracts.routing import Producer
from contracts.types import (
    ConsentPurpose,
    Language,
    Payload,
    PersonalData,
    SecretUrl,
    TimeZoneName,
    UtcDateTime,
)

ContactField = Literal["email", "phone", "name", "time_zone", "language"]


@event("cabinet.user.registered", version=1, aggregate="user_id")
class UserRegisteredV1(Payload):
    """A user registered (role ``client``). Consumers: notify (welcome message, keeps an encrypted
    copy of contacts, zone and language), booking (client names and contacts for receipts).
    """

    user_id: UUID
    email: PersonalData
    email_verified: bool = False
    name: PersonalData
    phone: PersonalData | None = Field(default=None, description="E.164")
    time_zone: TimeZoneName
    language: Language
    roles: list[str] = Field(description="client, specialist, moderator, admin")
    registered_at: UtcDateTime


@event("cabinet.user.contact_changed", version=1, aggregate="user_id")
class UserContactChangedV1(Payload):
    """A user's contacts, zone or language changed; carries the full current state and which
    fields changed. Consumers: notify and booking (replace their copy).
    """

    user_id: UUID
    email: PersonalData
    email_verified: bool
    name: PersonalData
    phone: PersonalData | None = None
    time_zone: TimeZoneName
    language: Language
    changed_fields: list[ContactField] = Field(min_length=1)


@event("cabinet.user.email_verification_requested", version=1, aggregate="user_id")
class EmailVerificationRequestedV1(Payload):
    """A user must confirm their email (after registration or an email change).

    Consumers: notify (sends the one-time link to ``email``).
    """

    user_id: UUID
    email: PersonalData
    name: PersonalData
    language: Language
    verification_url: SecretUrl
    expires_at: UtcDateTime


@event("cabinet.user.email_verified", version=1, aggregate="user_id")
class EmailVerifiedV1(Payload):
    """A user confirmed their email. Consumers: notify (may send non-transactional email now)."""

    user_id: UUID
    email: PersonalData
    verified_at: UtcDateTime


@event("cabinet.user.registration_attempted", version=1, aggregate="user_id")
class RegistrationAttemptedV1(Payload):
    """Someone tried to register with an address that already has an account.

    The HTTP answer is the same as for a new address (no enumeration); the address's owner is
    told instead. Consumers: notify (mails ``email``: sign in or reset the password; if it was
    not them, nothing changed).
    """

    user_id: UUID = Field(description="The existing account's user id")
    email: PersonalData
    name: PersonalData
    language: Language
    attempted_at: UtcDateTime


@event("cabinet.user.password_reset_requested", version=1, aggregate="user_id")
class PasswordResetRequestedV1(Payload):
    """Someone asked to reset a registered user's password.

    Consumers: notify (sends the one-time link to ``email``).
    """

    user_id: UUID
    email: PersonalData
    name: PersonalData
    language: Language
    reset_url: SecretUrl
    expires_at: UtcDateTime


@event("cabinet.user.roles_changed", version=1, aggregate="user_id")
class UserRolesChangedV1(Payload):
    """An admin granted or removed roles; ``roles`` is the full set after the change.

    Consumers: booking (who is a specialist), content (moderators), notify.
    """

    user_id: UUID
    roles: list[str]
    granted: list[str] = Field(default_factory=list)
    revoked: list[str] = Field(default_factory=list)
    changed_by_user_id: UUID


SessionEndReason = Literal[
    "logout", "refresh_token_reused", "password_changed", "password_reset", "roles_revoked"
]


@event("cabinet.sessions.revoked", version=1, aggregate="user_id")
class SessionsRevokedV1(Payload):
    """Sessions of one user ended before their access tokens expired (logout, a reused refresh
    token, a password change or reset, a role removed).

    Every access token carries its session id (``sid``, the refresh family). Consumers: every
    service's token verifier (servicekit ``security.revocation``): from the moment it reads this
    event it refuses every access token whose ``sid`` is listed, until those tokens would have
    expired anyway.
    """

    user_id: UUID
    session_ids: list[UUID] = Field(min_length=1, description="The revoked sessions (sid)")
    reason: SessionEndReason
    revoked_at: UtcDateTime


@event("cabinet.specialist_profile.updated", version=1, aggregate="specialist_id")
class SpecialistProfileUpdatedV1(Payload):
    """A specialist's public profile was created or changed (full state).

    Consumers: booking (names and zone for schedules and events), content (author names).
    """

    specialist_id: UUID = Field(description="The specialist's user_id")
    display_name: PersonalData
    bio: str | None = None
    photo_url: str | None = None
    time_zone: TimeZoneName
    service_ids: list[UUID] = Field(default_factory=list)
    active: bool


@event("cabinet.consent_document.published", version=1, aggregate="document_id")
class ConsentDocumentPublishedV1(Payload):
    """An admin published a new version of a consent document.

    When ``requires_reconsent``, grants of older versions stop counting from ``effective_from``.
    Consumers: booking (refuses P2 writes under an outdated health-data consent), notify.
    """

    document_id: UUID
    purpose: ConsentPurpose
    version: int = Field(ge=1)
    effective_from: UtcDateTime
    requires_reconsent: bool


@event("cabinet.consent.granted", version=1, aggregate="user_id")
class ConsentGrantedV1(Payload):
    """A user granted consent for one purpose under one document version.

    Consumers: booking (health-data consent gates intake forms), notify (marketing consent).
    """

    consent_id: UUID = Field(description="The immutable audit row of this grant")
    user_id: UUID
    purpose: ConsentPurpose
    document_id: UUID
    document_version: int = Field(ge=1)
    granted_at: UtcDateTime


@event("cabinet.consent.withdrawn", version=1, aggregate="user_id")
class ConsentWithdrawnV1(Payload):
    """A user withdrew consent for one purpose.

    Consumers: booking (refuses further P2 writes), notify (stops non-essential messages).
    """

    consent_id: UUID = Field(description="The immutable audit row of this withdrawal")
    user_id: UUID
    purpose: ConsentPurpose
    document_id: UUID
    document_version: int = Field(ge=1)
    withdrawn_at: UtcDateTime


@event("cabinet.data_export.requested", version=1, aggregate="export_id")
class DataExportRequestedV1(Payload):
    """A user asked for a copy of their data, due by ``deadline_at``.

    Consumers: the services in ``expected_parts`` (each publishes its data_export.part_ready).
    """

    export_id: UUID
    user_id: UUID
    requested_at: UtcDateTime
    deadline_at: UtcDateTime
    expected_parts: list[Producer] = Field(description="Services that must send a part")


@event("cabinet.data_export.completed", version=1, aggregate="export_id")
class DataExportCompletedV1(Payload):
    """An export is ready to download: every part arrived, or the final deadline passed and it
    is marked ``incomplete`` with the ``missing_parts`` named (never silently partial).

    Consumers: notify (sends the user the link).
    """

    export_id: UUID
    user_id: UUID
    download_url: SecretUrl
    expires_at: UtcDateTime
    parts: list[Producer]
    incomplete: bool = Field(
        default=False, description="Some part never arrived by the final deadline"
    )
    missing_parts: list[Producer] = Field(
        default_factory=list, description="The parts missing from an incomplete export"
    )


@event("cabinet.user.erasure_requested", version=1, aggregate="user_id")
class UserErasureRequestedV1(Payload):
    """A user's personal data must be erased by ``deadline_at``.

    Consumers: booking, content, notify (each erases and publishes its user_data.erased).
    """

    erasure_request_id: UUID
    user_id: UUID
    requested_at: UtcDateTime
    deadline_at: UtcDateTime
    reason: Literal["user_request", "consent_withdrawn", "admin"]
    expected_parts: list[Producer] = Field(description="Services that must confirm erasure")


LeadChannel = Literal["telegram", "registration", "web", "booking", "questionnaire", "manual"]
"""How a lead reached the practice: a bot ``/start`` from a link, a registration, a touch the
front end reported (UTM on a page such as booking), a booking started, a questionnaire left with
a contact (content has no such thing yet: docs/leads.md), entered by hand."""

UtmLabel = Annotated[str, Field(min_length=1, max_length=64)]
"""A UTM value or campaign label (``utm_source``, ``utm_medium``, ``utm_campaign``); cabinet
accepts only ``A-Za-z0-9_.:-`` at its edge."""


@event("cabinet.campaign_link.issued", version=1, aggregate="campaign_id")
class CampaignLinkIssuedV1(Payload):
    """The practice made a campaign with a Telegram deep link many people may open.

    cabinet mints the ``/start`` token and keeps it; the event carries only its SHA-256 (the
    token itself never travels). Consumers: notify (recognises the token on ``/start``, and
    publishes ``notify.deeplink.activated`` with ``deeplink_id == campaign_id`` at each opening).
    """

    campaign_id: UUID
    token_sha256: str = Field(
        min_length=64, max_length=64, description="SHA-256 (hex) of the /start token"
    )
    source: UtmLabel
    medium: UtmLabel | None = None
    campaign: UtmLabel
    service_id: UUID | None = None
    specialist_id: UUID | None = None
    issued_at: UtcDateTime


@event("cabinet.campaign_link.revoked", version=1, aggregate="campaign_id")
class CampaignLinkRevokedV1(Payload):
    """A campaign's deep link stopped working. Consumers: notify (answers a later ``/start``
    politely and publishes nothing)."""

    campaign_id: UUID
    revoked_at: UtcDateTime


@event("cabinet.lead.created", version=1, aggregate="lead_id")
class LeadCreatedV1(Payload):
    """A prospective client appeared: their first touch. Carries no contact (the lead's
    contacts stay encrypted in cabinet). Consumers: none yet (a front end reads the pipeline
    from cabinet).
    """

    lead_id: UUID
    channel: LeadChannel
    source: str | None = Field(default=None, description="First touch's utm_source")
    medium: str | None = None
    campaign: str | None = None
    campaign_id: UUID | None = Field(default=None, description="The campaign link opened")
    user_id: UUID | None = Field(default=None, description="Set when the lead has an account")
    created_at: UtcDateTime


@event("cabinet.lead.converted", version=1, aggregate="lead_id")
class LeadConvertedV1(Payload):
    """A lead's first session was held (first completed appointment); attributed to the
    lead's first touch. Consumers: none yet."""

    lead_id: UUID
    user_id: UUID
    appointment_id: UUID
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    campaign_id: UUID | None = None
    converted_at: UtcDateTime
