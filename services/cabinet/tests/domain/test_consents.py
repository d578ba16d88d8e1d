"""Consent rules (cabinet.domain.consents), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cabinet.domain.consents import (
    PURPOSES,
    DocumentOutdated,
    DocumentVersion,
    NotGranted,
    Record,
    check_grant,
    check_withdrawal,
    current_document,
    standing,
    status,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
P = "health_data_processing"


def doc(version: int, *, days_ago: float = 10, reconsent: bool = False) -> DocumentVersion:
    return DocumentVersion(P, version, NOW - days_ago * DAY, reconsent)


def granted(version: int, days_ago: float = 5) -> Record:
    return Record(P, version, "granted", NOW - days_ago * DAY)


def withdrawn(version: int, days_ago: float = 1) -> Record:
    return Record(P, version, "withdrawn", NOW - days_ago * DAY)


def test_the_purposes_are_the_contracts() -> None:
    assert P in PURPOSES and "marketing_messages" in PURPOSES


def test_the_current_document_is_the_newest_in_effect() -> None:
    v1, v2, future = doc(1), doc(2, days_ago=3), doc(3, days_ago=-2)
    assert current_document([v1, v2, future], NOW) == v2
    assert current_document([future], NOW) is None
    assert current_document([], NOW) is None


def test_a_standing_grant_withdrawal_and_none() -> None:
    docs = [doc(1)]
    assert status([], docs, NOW) == "none"
    assert status([granted(1)], docs, NOW) == "granted"
    assert status([granted(1), withdrawn(1)], docs, NOW) == "withdrawn"
    assert status([granted(1), withdrawn(1, 2), granted(1, 1)], docs, NOW) == "granted"


def test_a_version_requiring_reconsent_outdates_older_grants_once_in_effect() -> None:
    grant = [granted(1)]
    assert status(grant, [doc(1), doc(2, days_ago=1, reconsent=True)], NOW) == "outdated"
    # not in effect yet: the old grant still counts
    assert status(grant, [doc(1), doc(2, days_ago=-1, reconsent=True)], NOW) == "granted"
    # a newer version that does not ask for it leaves the grant valid
    assert status(grant, [doc(1), doc(2, days_ago=1)], NOW) == "granted"


def test_standing_names_the_granted_and_the_current_version() -> None:
    docs = [doc(1), doc(2, days_ago=1, reconsent=True)]
    found = standing([granted(1)], docs, NOW)
    assert (found.status, found.granted_version, found.current) == ("outdated", 1, docs[1])
    after = standing([granted(1), withdrawn(1)], docs, NOW)
    assert (after.status, after.granted_version) == ("withdrawn", None)
    assert standing([], [], NOW).current is None


def test_only_the_version_in_effect_can_be_granted() -> None:
    v1, v2 = doc(1), doc(2, days_ago=1)
    check_grant(v2, [v1, v2], NOW)
    with pytest.raises(DocumentOutdated):
        check_grant(v1, [v1, v2], NOW)
    not_yet = doc(3, days_ago=-1)
    with pytest.raises(DocumentOutdated):
        check_grant(not_yet, [v1, v2, not_yet], NOW)


def test_only_a_standing_grant_can_be_withdrawn() -> None:
    check_withdrawal([granted(1)])
    check_withdrawal([granted(1), withdrawn(1, 2), granted(1, 1)])
    for records in ([], [granted(1), withdrawn(1)]):
        with pytest.raises(NotGranted):
            check_withdrawal(records)
