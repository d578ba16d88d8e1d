"""content's composition root: the service definition and its runtime."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    DataExportPartReadyV1,
    InteractiveRunCompletedV1,
    ItemPublishedV1,
    ModerationDecidedV1,
    RunContactLeftV1,
    UserDataErasedV1,
)
from servicekit.clock import Clock, utcnow
from servicekit.data_rights import PartLinks, export_files_router
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from content.adapters.tables import metadata
from content.api.assignments import router as assignments_router
from content.api.errors import PROBLEMS
from content.api.items import router as items_router
from content.api.library import router as library_router
from content.api.moderation import router as moderation_router
from content.api.posts import router as posts_router
from content.api.questionnaires import drafts_router
from content.api.questionnaires import router as questionnaires_router
from content.api.run_contacts import router as run_contacts_router
from content.api.runs import router as runs_router
from content.api.specialists import router as specialists_router
from content.api.trends import router as trends_router
from content.application import data_rights
from content.application.library import LibraryCache
from content.config import ContentSettings
from content.entrypoints.consumers import booking_events, consent_events
from content.entrypoints.timers import timer_handlers

definition = ServiceDefinition(
    name="content",
    title="Praktika content",
    description=(
        "Articles and resources with their publishing workflow, questionnaires (PHQ-9, GAD-7) "
        "and their runs, assignments and score trends, user-generated items and moderation."
    ),
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(
        InteractiveRunCompletedV1,
        AssignmentCreatedV1,
        AssignmentOverdueV1,
        ItemPublishedV1,
        ModerationDecidedV1,
        RunContactLeftV1,
        DataExportPartReadyV1,
        UserDataErasedV1,
    ),
    # The data-rights consumer is made per runtime (its links are on the runtime's origin).
    consumers=(
        consent_events,
        booking_events,
        data_rights.consumer(PartLinks("http://127.0.0.1:8080", "content", timedelta(days=1))),
    ),
    routers=(
        questionnaires_router,
        drafts_router,
        runs_router,
        run_contacts_router,
        assignments_router,
        trends_router,
        items_router,
        library_router,
        posts_router,
        moderation_router,
        specialists_router,
        export_files_router(),
    ),
    port=8002,
    problems=PROBLEMS,
)


class ContentRuntime(ServiceRuntime):
    """content's runtime: servicekit's, with content's settings and timers."""

    settings: ContentSettings

    def __init__(
        self,
        settings: ContentSettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        wired = dataclasses.replace(
            definition,
            timers=timer_handlers(),
            consumers=(
                consent_events,
                booking_events,
                data_rights.consumer(PartLinks.of(settings)),
            ),
        )
        super().__init__(wired, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.library_cache = LibraryCache(settings.library_cache_pages)


def build_runtime(
    settings: ContentSettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> ContentRuntime:
    """The content runtime; tests pass their own settings or clock."""
    return ContentRuntime(
        settings or ContentSettings(), clock=clock, relay_after_publish=relay_after_publish
    )
