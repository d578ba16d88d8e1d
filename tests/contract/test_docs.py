"""The documents that describe the code are generated from it or checked against it."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.catalogue import ARCHITECTURE, rendered

ROOT = Path(__file__).resolve().parents[2]


def test_the_architecture_event_table_is_what_the_code_says() -> None:
    current, wanted = rendered()
    assert current == wanted, f"{ARCHITECTURE} is stale: run `make docs`"


def test_the_readme_and_docs_link_nothing_outside_the_repository() -> None:
    """A clone has no ../shared: every local link must resolve inside the repository."""
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)", document.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{document.name} links outside: {target}"
            assert resolved.exists(), f"{document.name} links to a missing {target}"


def test_the_demo_reads_each_events_consumers_from_the_catalogue() -> None:
    """``make demo`` names the queues an event is on its way to from the generated table."""
    from contracts.registry import all_specs
    from devstack.catalogue import documented_consumers

    consumers = documented_consumers()
    assert set(consumers) == {spec.key for spec in all_specs()}
    assert "notify.booking-events" in consumers["booking.appointment.confirmed.v1"]
    assert consumers["cabinet.lead.created.v1"] == []
