"""What notify's handlers need beyond the unit of work: settings, clock, templates, channels.

One :class:`NotifyContext` per runtime (``bootstrap.build_runtime``); consumers, timers, the bot
and the routes get it by parameter or from the runtime, never from a module global, so two
runtimes in one process (two replicas in a test) stay apart.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiogram import Bot
from servicekit.clock import Clock, utcnow

from notify.adapters.mailer import Mailer, SmtpConfig
from notify.adapters.telegram import RateLimiter, TelegramGateway, make_bot
from notify.adapters.templates import TemplateRenderer
from notify.config import NotifySettings
from notify.domain.attempts import RetryPolicy
from notify.domain.tokens import unsubscribe_token


class NotifyContext:
    """Settings, clock, renderer, mailer and the Telegram gateway of one runtime."""

    def __init__(self, settings: NotifySettings, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.renderer = TemplateRenderer(
            app_url=settings.app_base_url.rstrip("/"),
            bot_url=f"https://t.me/{settings.telegram_bot_username}",
        )
        self.mailer = Mailer(
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
        )
        self.retry = RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            first=timedelta(seconds=settings.delivery_backoff_seconds),
            cap=timedelta(seconds=settings.delivery_backoff_max_seconds),
        )
        self.chat_interval = timedelta(seconds=settings.telegram_chat_interval_seconds)
        self._limiter = RateLimiter(settings.telegram_messages_per_second)
        self._telegram: TelegramGateway | None = None

    @property
    def bot(self) -> Bot:
        """The aiogram Bot (created on first use; no network until a call)."""
        return self.telegram.bot

    @property
    def telegram(self) -> TelegramGateway:
        """The Telegram gateway (created on first use)."""
        if self._telegram is None:
            s = self.settings
            bot = make_bot(s.telegram_bot_token, s.telegram_api_base, s.telegram_timeout_seconds)
            self._telegram = TelegramGateway(bot, self._limiter)
        return self._telegram

    def deeplink(self, token: str) -> str:
        """``https://t.me/<bot>?start=<token>``."""
        return f"https://t.me/{self.settings.telegram_bot_username}?start={token}"

    def unsubscribe_url(self, user_id: uuid.UUID) -> str:
        """The one-click unsubscribe URL (RFC 8058) for a user."""
        token = unsubscribe_token(user_id, self.settings.link_signing_key)
        return f"{self.settings.public_api_base_url.rstrip('/')}/unsubscribe/{token}"

    async def close(self) -> None:
        """Release connections."""
        if self._telegram is not None:
            await self._telegram.close()
            self._telegram = None
