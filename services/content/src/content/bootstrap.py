"""content's composition root."""

from __future__ import annotations

from pathlib import Path

from servicekit.clock import Clock, utcnow
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from content.adapters.tables import metadata
from content.config import ContentSettings

definition = ServiceDefinition(
    name="content",
    title="Praktika content",
    description=(
        "Articles and resources with their publishing workflow, questionnaires (PHQ-9, GAD-7) "
        "and their runs, user-generated items and moderation."
    ),
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(),
    consumers=(),
    routers=(),
    port=8002,
)


def build_runtime(
    settings: ContentSettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> ServiceRuntime:
    """The content runtime; tests pass their own settings or clock."""
    return ServiceRuntime(
        definition,
        settings or ContentSettings(),
        clock=clock,
        relay_after_publish=relay_after_publish,
    )
