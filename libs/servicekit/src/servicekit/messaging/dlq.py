"""Dead-letter queues: list what is in them and why, and replay chosen messages.

Browsing takes messages with ``basic.get`` without acknowledging them and returns them with a
requeue, so listing changes nothing. Replay republishes a chosen message (same body, id and
correlation id; the error headers removed, ``x-replayed-at`` added) to the queue it failed in,
waits for the broker's confirm, and only then removes it from the DLQ. A message the consumer
dead-lettered goes back through its purpose's headers exchange, to its aggregate's partition.

Command line (also reachable as ``<service>-admin dlq ...``)::

    servicekit-dlq list   --queue notify.user-events.dlq
    servicekit-dlq replay --queue notify.user-events.dlq --message-id <id> [--message-id ...]
    servicekit-dlq replay --queue notify.user-events.dlq --all
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from servicekit.clock import utcnow
from servicekit.messaging.copies import resent
from servicekit.messaging.topology import SHARD_HEADER, shard_of_body

_ERROR_HEADERS = (
    "x-error",
    "x-error-at",
    "x-error-detail",
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-delivery-count",
)


@dataclass(frozen=True)
class DeadLetter:
    """One message in a DLQ, as the list command shows it."""

    message_id: str | None
    event_type: str | None
    reason: str
    failed_at: str | None
    original_queue: str | None
    routing_key: str | None
    correlation_id: str | None
    body_preview: str


def _reason(message: AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    if "x-error" in headers:
        return str(headers["x-error"])
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return f"broker: {deaths[0].get('reason')!s}"
    return "unknown"


def _original_queue(message: AbstractIncomingMessage, dlq: str) -> str:
    headers = message.headers or {}
    queue = headers.get("x-original-queue")
    if isinstance(queue, str) and queue:
        return queue
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return str(deaths[0].get("queue"))
    return dlq.removesuffix(".dlq")


def describe(message: AbstractIncomingMessage, dlq: str) -> DeadLetter:
    """What a person needs to decide whether to replay a message."""
    headers = message.headers or {}
    routing_key = headers.get("x-original-routing-key") or message.routing_key
    return DeadLetter(
        message_id=message.message_id,
        event_type=message.type,
        reason=_reason(message),
        failed_at=str(headers["x-error-at"]) if "x-error-at" in headers else None,
        original_queue=_original_queue(message, dlq),
        routing_key=str(routing_key) if routing_key else None,
        correlation_id=message.correlation_id,
        body_preview=message.body[:300].decode("utf-8", "replace"),
    )


async def _drain(
    channel: aio_pika.abc.AbstractChannel, dlq: str, limit: int
) -> list[AbstractIncomingMessage]:
    queue = await channel.declare_queue(dlq, durable=True, passive=True)
    got: list[AbstractIncomingMessage] = []
    while len(got) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        got.append(message)
    return got


async def depths(amqp_url: str, dlqs: Sequence[str]) -> dict[str, int]:
    """How many messages wait in each of ``dlqs`` (which must exist)."""
    counts: dict[str, int] = {}
    connection = await aio_pika.connect(amqp_url, timeout=5)
    try:
        channel = await connection.channel()
        for name in dlqs:
            queue = await channel.declare_queue(name, durable=True, passive=True)
            counts[name] = queue.declaration_result.message_count or 0
    finally:
        await connection.close()
    return counts


async def list_dead_letters(amqp_url: str, dlq: str, *, limit: int = 1000) -> list[DeadLetter]:
    """The messages in ``dlq`` (up to ``limit``), oldest first; the queue is left unchanged."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        messages = await _drain(channel, dlq, limit)
        out = [describe(m, dlq) for m in messages]
        for m in messages:
            await m.nack(requeue=True)
        return out
    finally:
        await connection.close()


async def replay(
    amqp_url: str, dlq: str, *, message_ids: Collection[str] | None = None, limit: int = 10_000
) -> list[str]:
    """Send chosen messages (all when ``message_ids`` is None) back to their queue.

    Returns the ids replayed. Each is removed from the DLQ only after the broker confirmed its
    republication.
    """
    connection = await aio_pika.connect(amqp_url, timeout=10)
    replayed: list[str] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        messages = await _drain(channel, dlq, limit)
        for m in messages:
            if message_ids is not None and m.message_id not in message_ids:
                await m.nack(requeue=True)
                continue
            headers: dict[str, Any] = {
                k: v
                for k, v in (m.headers or {}).items()
                if k not in _ERROR_HEADERS and not k.startswith("x-original-")
            }
            headers["x-replayed-at"] = utcnow().isoformat()
            target = _original_queue(m, dlq)
            exchange: AbstractExchange = channel.default_exchange
            routing_key = target
            if target == dlq.removesuffix(".dlq"):
                # The purpose itself: its headers exchange routes the message back to its
                # aggregate's partition (servicekit.messaging.topology).
                headers.setdefault(SHARD_HEADER, shard_of_body(m.body))
                exchange = await channel.get_exchange(target)
                routing_key = ""
            await exchange.publish(
                resent(m, headers),
                routing_key=routing_key,
            )
            await m.ack()
            replayed.append(m.message_id or "")
        return replayed
    finally:
        await connection.close()


def add_dlq_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, queue_required: bool = True
) -> None:
    """Add ``list`` and ``replay`` to a command line."""
    p_list = sub.add_parser("list", help="list dead letters with their reasons")
    p_list.add_argument(
        "--queue",
        required=queue_required,
        help="the DLQ, e.g. notify.user-events.dlq"
        + ("" if queue_required else " (default: every DLQ, with counts)"),
    )
    p_list.add_argument("--limit", type=int, default=1000)
    p_list.add_argument("--json", action="store_true", help="one JSON object per line")
    p_replay = sub.add_parser("replay", help="send dead letters back to their queue")
    p_replay.add_argument("--queue", required=True)
    group = p_replay.add_mutually_exclusive_group(required=True)
    group.add_argument("--message-id", action="append", dest="message_ids")
    group.add_argument("--all", action="store_true")


def run_dlq_command(args: argparse.Namespace, amqp_url: str) -> int:
    """Execute a parsed ``list`` / ``replay`` command."""
    if args.command == "list":
        letters = asyncio.run(list_dead_letters(amqp_url, args.queue, limit=args.limit))
        for letter in letters:
            if args.json:
                print(json.dumps(asdict(letter), ensure_ascii=False))
            else:
                print(
                    f"{letter.message_id}  {letter.event_type}  from {letter.original_queue}"
                    f"  at {letter.failed_at}\n    reason: {letter.reason}"
                )
        if not args.json:
            print(f"{len(letters)} message(s) in {args.queue}")
        return 0
    ids = None if args.all else set(args.message_ids)
    done = asyncio.run(replay(amqp_url, args.queue, message_ids=ids))
    print(f"replayed {len(done)} message(s): {' '.join(done)}")
    if ids is not None and len(done) < len(ids):
        missing = sorted(ids - set(done))
        print(f"not found in {args.queue}: {' '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``servicekit-dlq``."""
    parser = argparse.ArgumentParser(prog="servicekit-dlq", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_dlq_commands(sub)
    args = parser.parse_args(argv)
    return run_dlq_command(args, args.amqp_url)


if __name__ == "__main__":
    raise SystemExit(main())
