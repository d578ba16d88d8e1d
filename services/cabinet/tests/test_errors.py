"""Every refusal of cabinet's use cases reads as the problem clients have always been answered:
mapped once (cabinet.api.errors), with its status, code, headers and both texts."""

from __future__ import annotations

import pytest
from cabinet.api.errors import PROBLEMS
from cabinet.application.accounts import PhoneUnavailable
from cabinet.application.consents import VersionConflict
from cabinet.application.erasure import (
    ErasureInProgress,
    ErasureNotCancellable,
    ErasureNotFound,
)
from cabinet.domain.accounts import InvalidLink, NoAccount, WrongPassword
from cabinet.domain.consents import DocumentOutdated, NoSuchDocument, NotGranted
from cabinet.domain.data_rights import (
    DownloadLinkInvalid,
    ExportInProgress,
    ExportNotFound,
    ExportNotReady,
)
from cabinet.domain.diary import (
    ClientNotFound,
    DiaryConsentRequired,
    DiaryEntryNotFound,
    UnknownAppointment,
)
from cabinet.domain.leads import (
    CampaignNameTaken,
    CampaignNotFound,
    LeadNotFound,
    StatusNotAllowed,
)
from cabinet.domain.roles import NoSuchSpecialist, NoSuchUser, OwnAdminRole
from cabinet.domain.sessions import InvalidCredentials, RefreshTokenReused, SessionEnded
from cabinet.domain.throttle import TooManyAttempts
from servicekit.errors import DomainError, domain_errors_of

BEARER = {"WWW-Authenticate": "Bearer"}

#: error → (status, code, headers, English title)
ANSWERS: dict[DomainError, tuple[int, str, dict[str, str], str]] = {
    NoAccount(): (404, "not_found", {}, "Not found"),
    InvalidLink(): (400, "invalid_token", {}, "Invalid link"),
    WrongPassword(): (403, "wrong_password", {}, "Wrong password"),
    PhoneUnavailable(): (409, "phone_unavailable", {}, "Phone unavailable"),
    TooManyAttempts(42): (429, "too_many_attempts", {"Retry-After": "42"}, "Too many attempts"),
    InvalidCredentials(): (401, "invalid_credentials", BEARER, "Authentication required"),
    SessionEnded(): (401, "invalid_refresh_token", BEARER, "Authentication required"),
    RefreshTokenReused(): (401, "refresh_token_reused", BEARER, "Authentication required"),
    NoSuchUser(): (404, "not_found", {}, "Not found"),
    NoSuchSpecialist(): (404, "not_found", {}, "Not found"),
    OwnAdminRole(): (409, "last_admin_guard", {}, "Conflict"),
    NoSuchDocument(): (404, "not_found", {}, "Not found"),
    DocumentOutdated(): (409, "document_outdated", {}, "Conflict"),
    NotGranted(): (409, "not_granted", {}, "Conflict"),
    VersionConflict(): (409, "version_conflict", {}, "Conflict"),
    DiaryEntryNotFound(): (404, "not_found", {}, "Not found"),
    ClientNotFound(): (404, "not_found", {}, "Not found"),
    UnknownAppointment(): (422, "unknown_appointment", {}, "Unknown session"),
    DiaryConsentRequired("health_data_processing"): (
        403,
        "consent_required",
        {},
        "Consent required",
    ),
    ExportNotFound(): (404, "not_found", {}, "Not found"),
    ExportInProgress(): (409, "export_in_progress", {}, "Conflict"),
    ExportNotReady(): (409, "export_not_ready", {}, "Conflict"),
    DownloadLinkInvalid(): (410, "download_link_invalid", {}, "Link no longer valid"),
    ErasureNotFound(): (404, "not_found", {}, "Not found"),
    ErasureInProgress(): (409, "erasure_in_progress", {}, "Conflict"),
    ErasureNotCancellable(): (409, "erasure_not_cancellable", {}, "Conflict"),
    # CRM leads
    LeadNotFound(): (404, "not_found", {}, "Not found"),
    CampaignNotFound(): (404, "not_found", {}, "Not found"),
    CampaignNameTaken(): (409, "campaign_name_taken", {}, "Conflict"),
    StatusNotAllowed(): (409, "lead_status_not_allowed", {}, "Conflict"),
}


def test_every_domain_error_of_cabinet_is_mapped() -> None:
    defined = domain_errors_of("cabinet")
    assert len(defined) >= len(ANSWERS)
    assert PROBLEMS.missing(defined) == []
    # and each is pinned below, so a status or a code cannot change unnoticed
    assert set(defined) == {type(e) for e in ANSWERS}


@pytest.mark.parametrize("error", list(ANSWERS), ids=lambda e: type(e).__name__)
def test_a_refusal_reads_as_its_problem(error: DomainError) -> None:
    status, code, headers, title = ANSWERS[error]
    problem = PROBLEMS.problem(error)
    assert problem is not None
    assert (problem.status, problem.code, problem.headers) == (status, code, headers)
    english, russian = problem.body("en"), problem.body("ru")
    assert english["title"] == title
    assert english["detail"] and russian["detail"] and english["detail"] != russian["detail"]
