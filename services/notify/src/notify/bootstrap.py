"""notify's composition root: its ports, definition and runtime.

:func:`build_runtime` builds one :class:`NotifyRuntime`: servicekit's runtime plus notify's
:class:`~notify.application.ports.NotifyPorts` (settings, clock, templates, mailer, Telegram),
the bot fed by the webhook and the sending workers. The consumers' and timers' handlers are bound
to those ports, so each runtime builds its own definition; the module-level ``definition``
(development settings, nothing connected, its handlers never run) describes the service for the
admin command line, the AsyncAPI document and the tests' databases.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from contracts.notify.v1 import (
    CalendarDecisionRequestedV1,
    DataExportPartReadyV1,
    DeeplinkActivatedV1,
    DeliveryFailedV1,
    TelegramActionRequestedV1,
    TelegramLinkedV1,
    UserDataErasedV1,
)
from servicekit.clock import Clock, utcnow
from servicekit.data_rights import export_files_router
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime

from notify.adapters.deliveries import DELIVER
from notify.adapters.mailer import Mailer, SmtpConfig
from notify.adapters.rendering import TemplateRenderer
from notify.adapters.tables import metadata
from notify.adapters.telegram import RateLimiter, TelegramGateway, make_bot
from notify.api.calendar_files import router as calendar_files_router
from notify.api.crisis import router as crisis_router
from notify.api.deeplinks import router as deeplinks_router
from notify.api.deliveries import router as deliveries_router
from notify.api.errors import PROBLEMS
from notify.api.me import router as me_router
from notify.api.preferences import router as preferences_router
from notify.api.recipients import router as recipients_router
from notify.api.unsubscribe import router as unsubscribe_router
from notify.application.ports import NotifyPorts
from notify.application.sending import KeptOutcomes
from notify.config import NotifySettings
from notify.domain.attempts import RetryPolicy
from notify.entrypoints.bot import TelegramBot
from notify.entrypoints.bot import router as telegram_router
from notify.entrypoints.consumers import build_consumers
from notify.entrypoints.sending import DeliveryWorkers
from notify.entrypoints.timers import build_timers


def build_ports(settings: NotifySettings, clock: Clock = utcnow) -> NotifyPorts:
    """notify's ports for ``settings`` (no connection is opened until a call)."""
    return NotifyPorts(
        settings=settings,
        clock=clock,
        renderer=TemplateRenderer(
            app_url=settings.app_base_url.rstrip("/"),
            bot_url=f"https://t.me/{settings.telegram_bot_username}",
        ),
        mailer=Mailer(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password,
                timeout=settings.smtp_timeout_seconds,
                validate_certs=settings.smtp_validate_certs,
                mail_from=settings.mail_from,
                mail_domain=settings.mail_domain,
            )
        ),
        telegram=TelegramGateway(
            make_bot(
                settings.telegram_bot_token,
                settings.telegram_api_base,
                settings.telegram_timeout_seconds,
            ),
            RateLimiter(settings.telegram_messages_per_second),
        ),
        retry=RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first=timedelta(seconds=settings.delivery_backoff_seconds),
            cap=timedelta(seconds=settings.delivery_backoff_max_seconds),
        ),
    )


def build_definition(notify: NotifyPorts, kept: KeptOutcomes) -> ServiceDefinition:
    """notify's definition, with handlers bound to ``notify``."""
    return ServiceDefinition(
        name="notify",
        title="Praktika notify",
        description="Telegram bot, email, notification rules, reminders and the delivery log.",
        metadata=metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        produces=(
            TelegramLinkedV1,
            DeeplinkActivatedV1,
            TelegramActionRequestedV1,
            CalendarDecisionRequestedV1,
            DeliveryFailedV1,
            DataExportPartReadyV1,
            UserDataErasedV1,
        ),
        consumers=build_consumers(notify),
        timers=build_timers(notify, kept),
        routers=(
            recipients_router,
            preferences_router,
            me_router,
            deliveries_router,
            crisis_router,
            deeplinks_router,
            telegram_router,
            unsubscribe_router,
            calendar_files_router,
            export_files_router(),
        ),
        port=8004,
        problems=PROBLEMS,
    )


# The description of the service (its AsyncAPI, the migrations, the OpenAPI audit): the handlers
# bound here never run (build_runtime binds its own to the real settings), so the development
# defaults describe it without any secret being read from the environment.
definition = build_definition(
    build_ports(NotifySettings(environment="development")), KeptOutcomes()
)


class NotifyRuntime(ServiceRuntime):
    """A running notify: servicekit's runtime with notify's ports, bot and sending workers."""

    settings: NotifySettings

    def __init__(
        self,
        settings: NotifySettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        self.notify = build_ports(settings, clock)
        own = build_definition(self.notify, KeptOutcomes())
        super().__init__(own, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.bot = TelegramBot(self.notify)
        self.senders = DeliveryWorkers(
            self.uow,
            own.timers[DELIVER],
            database_url=settings.database_url,
            count=settings.delivery_workers if settings.run_timers else 0,
            clock=clock,
            poll_seconds=settings.timers_poll_seconds,
            metrics=self.metrics,
        )

    async def start(self) -> None:
        """Start servicekit's background work, then the sending workers."""
        await super().start()
        self.senders.start()

    async def stop(self) -> None:
        """Stop the sending workers, servicekit's background work, and the providers' sessions."""
        await self.senders.stop()
        await super().stop()
        await self.notify.close()


def build_runtime(
    settings: NotifySettings | None = None,
    *,
    clock: Clock = utcnow,
    relay_after_publish: AfterPublish | None = None,
) -> NotifyRuntime:
    """The notify runtime; tests pass their own settings or clock."""
    return NotifyRuntime(
        settings or NotifySettings(), clock=clock, relay_after_publish=relay_after_publish
    )
