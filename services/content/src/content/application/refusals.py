"""Refusals about stored state (what exists, who owns it, what state it is in).

The rules about a definition's own shape and scoring are in ``content.domain``; ``api/errors.py``
says how each refusal reads over HTTP.
"""

from __future__ import annotations

from servicekit.errors import DomainError


class QuestionnaireNotFound(DomainError):
    """No such questionnaire, or not one the caller may see (existence never leaks)."""

    code = "not_found"


class VersionNotFound(DomainError):
    """No such published version of a questionnaire."""

    code = "not_found"


class RunNotFound(DomainError):
    """No such run, or not the caller's (a run token that does not match is the same)."""

    code = "not_found"


class AssignmentNotFound(DomainError):
    """No such assignment, or not the caller's."""

    code = "not_found"


class ClientNotFound(DomainError):
    """The person is not one of the calling specialist's clients (no confirmed appointment
    with them in content's copy of booking's appointments)."""

    code = "not_found"


class CodeTaken(DomainError):
    """Another questionnaire already has this code."""

    code = "code_taken"

    def __init__(self, code_: str) -> None:
        super().__init__(f"code {code_!r} is taken")
        self.taken = code_


class NothingToPublish(DomainError):
    """The draft is the latest published version already."""

    code = "nothing_to_publish"


class QuestionnaireArchived(DomainError):
    """The questionnaire is archived: no new runs, drafts or assignments."""

    code = "questionnaire_archived"


class RunCompleted(DomainError):
    """The run is completed: its answers and its score no longer change."""

    code = "run_completed"


class RunAlreadyClaimed(DomainError):
    """The anonymous run already belongs to an account (a run token claims once)."""

    code = "run_already_claimed"


class ConsentRequired(DomainError):
    """The client's consent for ``purpose`` does not count: answers are not stored (health
    data), or their specialist may not read them (transfer to the specialist)."""

    code = "consent_required"

    def __init__(self, purpose: str) -> None:
        super().__init__(f"consent for {purpose} required")
        self.purpose = purpose


class AssignmentClosed(DomainError):
    """The assignment is cancelled or done."""

    code = "assignment_closed"


class ItemNotFound(DomainError):
    """No such item, or not one the caller may see (a draft of someone else's)."""

    code = "not_found"


class SlugTaken(DomainError):
    """Another item in that language already has this slug."""

    code = "slug_taken"


class NothingToReview(DomainError):
    """The item has no revision waiting for review (or for this step)."""

    code = "nothing_to_review"


class PostNotFound(DomainError):
    """No such post, or not the caller's (a post token that does not match is the same)."""

    code = "not_found"


class SpecialistNotFound(DomainError):
    """The person is not a specialist content knows of."""

    code = "not_found"


class PostClosed(DomainError):
    """The post was decided on (approved or rejected) or withdrawn: its author can no longer
    change it."""

    code = "post_closed"


class NotReviewable(DomainError):
    """The appointment is not the reviewer's, or not completed (existence does not leak)."""

    code = "appointment_not_reviewable"


class AlreadyReviewed(DomainError):
    """This appointment has been reviewed already."""

    code = "already_reviewed"


class NotAnswerable(DomainError):
    """Only an approved question addressed to the caller can be answered."""

    code = "not_answerable"


class RateLimited(DomainError):
    """Too many posts from this author or address lately."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class ContactAlreadyLeft(DomainError):
    """A contact was already left on this run (once per run)."""

    code = "run_contact_left"


class ContactsRateLimited(DomainError):
    """Too many contacts left from this address lately."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after
