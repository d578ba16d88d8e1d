"""Every refusal content's use cases and rules can raise reads as a problem over HTTP."""

from __future__ import annotations

from typing import get_args

from content.api.errors import PROBLEMS, REASONS
from content.application.refusals import QuestionnaireNotFound
from content.domain.definitions import InvalidDefinition, Reason
from servicekit.errors import domain_errors_of


def test_every_domain_error_is_mapped() -> None:
    # entrypoints/ is left out: its http module builds production settings on import.
    errors = domain_errors_of("content.domain", "content.application")
    assert QuestionnaireNotFound in errors and InvalidDefinition in errors
    assert PROBLEMS.missing(errors) == []


def test_every_reason_a_definition_is_refused_for_has_its_text() -> None:
    assert set(REASONS) == set(get_args(Reason))
