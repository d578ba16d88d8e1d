"""``notify-admin``: migrate, reencrypt, dlq, asyncapi, and ``telegram-webhook set|delete``."""

from __future__ import annotations

import argparse
import asyncio

from servicekit.cli import run_cli
from servicekit.settings import ServiceSettings

from notify.adapters.telegram import make_bot
from notify.bootstrap import definition
from notify.config import NotifySettings


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hook = sub.add_parser("telegram-webhook", help="set or delete the bot's webhook")
    hook.add_argument("action", choices=["set", "delete", "info"])
    hook.add_argument("--url", help="default: TELEGRAM_WEBHOOK_URL")
    hook.add_argument("--drop-pending", action="store_true")


async def _webhook(args: argparse.Namespace, settings: NotifySettings) -> int:
    bot = make_bot(
        settings.telegram_bot_token, settings.telegram_api_base, settings.telegram_timeout_seconds
    )
    try:
        if args.action == "set":
            url = args.url or settings.telegram_webhook_url
            await bot.set_webhook(
                url,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=["message", "callback_query"],
                drop_pending_updates=args.drop_pending,
            )
            print(f"webhook set to {url}")
        elif args.action == "delete":
            await bot.delete_webhook(drop_pending_updates=args.drop_pending)
            print("webhook deleted")
        else:
            info = await bot.get_webhook_info()
            print(info.model_dump_json(indent=2))
    finally:
        await bot.session.close()
    return 0


def _handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
    if args.command == "telegram-webhook":
        assert isinstance(settings, NotifySettings)
        return asyncio.run(_webhook(args, settings))
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return run_cli(definition, NotifySettings, argv, extra=_extra, handle_extra=_handle)


if __name__ == "__main__":
    raise SystemExit(main())
