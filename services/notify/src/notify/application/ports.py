"""What notify's use cases reach beyond the unit of work: :class:`NotifyPorts`.

One per runtime, built by ``notify.bootstrap`` and passed to every use case as a parameter
(never a module global), so two runtimes in one process (two replicas in a test) stay apart and
a test swaps a part by building its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from servicekit.clock import Clock

from notify.adapters.mailer import Mailer
from notify.adapters.rendering import TemplateRenderer
from notify.adapters.telegram import TelegramGateway
from notify.config import NotifySettings
from notify.domain.attempts import RetryPolicy
from notify.domain.tokens import unsubscribe_token


@dataclass(frozen=True)
class NotifyPorts:
    """Settings, clock, the template renderer, the mailer, the Telegram gateway and the retry
    policy of one runtime."""

    settings: NotifySettings
    clock: Clock
    renderer: TemplateRenderer
    mailer: Mailer
    telegram: TelegramGateway
    retry: RetryPolicy

    @property
    def chat_interval(self) -> timedelta:
        """The least time between two messages to one chat."""
        return timedelta(seconds=self.settings.telegram_chat_interval_seconds)

    @property
    def telegram_pace(self) -> timedelta:
        """The least time between two Telegram calls of the bot, across every process."""
        return timedelta(seconds=1 / self.settings.telegram_messages_per_second)

    def app_url(self, path: str) -> str:
        """A page of the front end: ``APP_BASE_URL`` + ``path``."""
        return f"{self.settings.app_base_url.rstrip('/')}{path}"

    def deeplink(self, token: str) -> str:
        """``https://t.me/<bot>?start=<token>``."""
        return f"https://t.me/{self.settings.telegram_bot_username}?start={token}"

    def unsubscribe_url(self, user_id: uuid.UUID) -> str:
        """The one-click unsubscribe URL (RFC 8058) for a user."""
        token = unsubscribe_token(user_id, self.settings.link_signing_key)
        return f"{self.settings.public_api_base_url.rstrip('/')}/unsubscribe/{token}"

    def calendar_file_url(self, token: str) -> str:
        """Where a signed add-to-calendar link serves an appointment's ``.ics``."""
        return f"{self.settings.public_api_base_url.rstrip('/')}/calendar-files/{token}.ics"

    async def close(self) -> None:
        """Release the providers' connections."""
        await self.telegram.close()
