"""Telegram Bot API fake: the bot's side over HTTP, simulated users delivering to its webhook."""

from sandbox.telegram.botapi import BotApi
from sandbox.telegram.fake import build_telegram_fake, create_telegram_app, telegram_store
from sandbox.telegram.formatting import EntityParseError, parse_text
from sandbox.telegram.models import (
    DEFAULT_BOT,
    ActionResult,
    BotIdentity,
    CallbackQueryRecord,
    ChatMessage,
    Delivery,
    RateLimits,
    SimulatedUser,
    TelegramFault,
)
from sandbox.telegram.simulator import SECRET_HEADER, UserSimulator
from sandbox.telegram.store import TelegramStore
from sandbox.telegram.testing import TelegramSandbox, running_telegram_fake

__all__ = [
    "DEFAULT_BOT",
    "SECRET_HEADER",
    "ActionResult",
    "BotApi",
    "BotIdentity",
    "CallbackQueryRecord",
    "ChatMessage",
    "Delivery",
    "EntityParseError",
    "RateLimits",
    "SimulatedUser",
    "TelegramFault",
    "TelegramSandbox",
    "TelegramStore",
    "UserSimulator",
    "build_telegram_fake",
    "create_telegram_app",
    "parse_text",
    "running_telegram_fake",
    "telegram_store",
]
