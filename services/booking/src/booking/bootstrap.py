"""booking's composition root: the service definition and its runtime.

:class:`BookingRuntime` is servicekit's runtime plus booking's own parts, built here from the
settings and passed to whatever needs them: the practice's rules (:class:`Practice`), YooKassa
as booking uses it (:class:`PaymentGateway`) and the remembered slot searches. Its consumers and
timer handlers are closures over those parts and the clock, made for this runtime alone, so
tests swap them by parameter.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
    CalendarEventChangedV1,
    CalendarSyncFailedV1,
    DataExportPartReadyV1,
    IntakeSubmittedV1,
    PaymentFailedV1,
    PaymentSucceededV1,
    RefundFailedV1,
    RefundSucceededV1,
    UserDataErasedV1,
    WaitlistOfferExpiredV1,
    WaitlistOfferMadeV1,
)
from servicekit.clock import Clock, utcnow
from servicekit.data_rights import PartLinks, export_files_router
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from booking.adapters.google_calendar import GoogleCalendarClient
from booking.adapters.tables import metadata
from booking.adapters.yookassa import YooKassaClient
from booking.api.appointments import calendar_router
from booking.api.appointments import router as appointments_router
from booking.api.calendar import google_router, me_router, specialist_calendar_router
from booking.api.calendar_feeds import me_router as calendar_feed_router
from booking.api.calendar_feeds import router as calendar_feeds_router
from booking.api.clients import router as clients_router
from booking.api.errors import PROBLEMS
from booking.api.payments import router as payments_router
from booking.api.records import intake_router, outcome_router
from booking.api.services import router as services_router
from booking.api.slots import router as slots_router
from booking.api.specialists import router as specialists_router
from booking.api.waitlist import router as waitlist_router
from booking.application.calendar import CalendarSync
from booking.application.payments import PaymentGateway
from booking.application.practice import Practice
from booking.application.slot_search import SlotCache
from booking.config import BookingSettings
from booking.entrypoints.consumers import booking_consumers
from booking.entrypoints.timers import timer_handlers

definition = ServiceDefinition(
    name="booking",
    title="Praktika booking",
    description=(
        "Service catalog, schedules, slot search, appointments, payments and refunds, "
        "waitlist, intake forms and outcome records."
    ),
    metadata=metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    produces=(
        AppointmentHeldV1,
        AppointmentConfirmedV1,
        AppointmentRescheduledV1,
        AppointmentCancelledV1,
        AppointmentExpiredV1,
        AppointmentCompletedV1,
        AppointmentNoShowV1,
        AppointmentAttendanceConfirmedV1,
        PaymentSucceededV1,
        PaymentFailedV1,
        RefundSucceededV1,
        RefundFailedV1,
        IntakeSubmittedV1,
        WaitlistOfferMadeV1,
        WaitlistOfferExpiredV1,
        ActionRejectedV1,
        CalendarEventChangedV1,
        CalendarSyncFailedV1,
        DataExportPartReadyV1,
        UserDataErasedV1,
    ),
    # What the consumers are (queues, events); a runtime makes its own, wired to its settings.
    consumers=booking_consumers(Practice()),
    routers=(
        clients_router,
        services_router,
        specialists_router,
        calendar_router,
        slots_router,
        appointments_router,
        payments_router,
        intake_router,
        outcome_router,
        waitlist_router,
        calendar_feed_router,
        calendar_feeds_router,
        me_router,
        specialist_calendar_router,
        google_router,
        export_files_router(),
    ),
    port=8001,
    # An Idempotency-Key answers replays for 24 h; keep a margin, then forget it.
    retention=(("idempotency_keys", "created_at", timedelta(hours=48)),),
    problems=PROBLEMS,
)


def yookassa_client(settings: BookingSettings) -> YooKassaClient:
    """The YooKassa client the settings describe."""
    return YooKassaClient(
        settings.yookassa_base_url,
        settings.yookassa_shop_id,
        settings.yookassa_secret_key,
        timeout=settings.yookassa_timeout_seconds,
        max_attempts=settings.yookassa_max_attempts,
        retry_base=settings.yookassa_retry_base_seconds,
        vat_code=settings.yookassa_vat_code,
    )


def google_calendar_client(settings: BookingSettings) -> GoogleCalendarClient:
    """The Google Calendar client the settings describe."""
    key = settings.google_service_account_key.strip()
    client = GoogleCalendarClient(
        api_base=settings.google_calendar_api_base,
        token_uri=settings.google_token_uri,
        revoke_uri=settings.google_revoke_uri,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        service_account_key=json.loads(key) if key else None,
        timeout=settings.google_calendar_timeout_seconds,
        max_attempts=settings.google_calendar_max_attempts,
        retry_base=settings.google_calendar_retry_base_seconds,
        retry_max=settings.google_calendar_retry_max_seconds,
    )
    client.webhook_url = settings.google_calendar_webhook_url
    return client


def calendar_sync_of(settings: BookingSettings, client: GoogleCalendarClient) -> CalendarSync:
    """Google Calendar sync as the settings time it."""
    return CalendarSync(
        client=client,
        poll_every=timedelta(minutes=settings.calendar_poll_minutes),
        channel_life=timedelta(hours=settings.calendar_channel_hours),
        renew_before=timedelta(hours=settings.calendar_channel_renew_hours),
        give_up_after=settings.calendar_push_give_up_attempts,
    )


def practice_of(settings: BookingSettings) -> Practice:
    """The practice's rules the settings give."""
    return Practice(
        hold_for=timedelta(minutes=settings.hold_minutes),
        offer_for=timedelta(minutes=settings.waitlist_offer_minutes),
        parallel_offers=settings.waitlist_parallel_offers,
    )


class BookingRuntime(ServiceRuntime):
    """booking's runtime: servicekit's, plus the practice's rules, YooKassa as booking uses it,
    Google Calendar sync and the remembered slot searches."""

    settings: BookingSettings

    def __init__(
        self,
        settings: BookingSettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
        yookassa: YooKassaClient | None = None,
        google_calendar: GoogleCalendarClient | None = None,
    ) -> None:
        self.practice = practice_of(settings)
        self.calendar = calendar_sync_of(
            settings, google_calendar or google_calendar_client(settings)
        )
        self.gateway = PaymentGateway(
            client=yookassa or yookassa_client(settings),
            return_url=settings.yookassa_return_url,
            reconcile_after=timedelta(minutes=settings.payment_reconcile_minutes),
        )
        wired = dataclasses.replace(
            definition,
            consumers=booking_consumers(self.practice, PartLinks.of(settings)),
            timers=timer_handlers(self.practice, self.gateway, clock, self.calendar),
        )
        super().__init__(wired, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.slot_cache = SlotCache(
            settings.slot_cache_entries,
            self.metrics.registry,
            max_starts=settings.slot_cache_max_starts,
        )

    async def stop(self) -> None:
        """Stop background work, then close the YooKassa connection pool."""
        await super().stop()
        await self.gateway.client.aclose()
        await self.calendar.client.aclose()


def build_runtime(
    settings: BookingSettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
    yookassa: YooKassaClient | None = None,
    google_calendar: GoogleCalendarClient | None = None,
) -> BookingRuntime:
    """The booking runtime; tests pass their own settings, clock or YooKassa client."""
    return BookingRuntime(
        settings or BookingSettings(),
        clock=clock,
        relay_after_publish=relay_after_publish,
        yookassa=yookassa,
        google_calendar=google_calendar,
    )
