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
