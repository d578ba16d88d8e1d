"""Each service's committed AsyncAPI document is what its code generates now, and it is a whole
document: FastStream's publishers, servicekit's queues, every reference resolving."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from contracts.registry import spec_of
from servicekit.asyncapi import build_asyncapi, publishers, render
from servicekit.cli import asyncapi_path

SERVICES = ["booking", "content", "cabinet", "notify"]


def _definition(service: str) -> Any:
    return importlib.import_module(f"{service}.bootstrap").definition


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_is_current(service: str) -> None:
    definition = _definition(service)
    path = asyncapi_path(definition)
    assert path.exists(), f"run `uv run {service}-admin asyncapi`"
    assert path.read_text() == render(definition), f"stale: run `uv run {service}-admin asyncapi`"


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves(service: str) -> None:
    doc = build_asyncapi(_definition(service))
    for ref in set(_refs(doc)):
        _resolve(doc, ref)


def test_published_events_are_faststream_publishers_as_the_relay_sends_them() -> None:
    cabinet = _definition("cabinet")
    declared = publishers(cabinet).publishers
    assert len(declared) == len(cabinet.produces) > 0
    doc = build_asyncapi(cabinet)
    channel = doc["channels"]["cabinet.user.registered.v1"]
    assert channel["address"] == "cabinet.user.registered.v1"
    assert channel["bindings"]["amqp"]["exchange"] == {
        "name": "cabinet.events",
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    assert "outbox relay" in channel["description"]
    sends = [op for op in doc["operations"].values() if op["action"] == "send"]
    assert len(sends) == len(cabinet.produces)
    operation = doc["operations"]["cabinet.user.registered.v1"]
    # Persistent (deliveryMode 2) and not mandatory: what the relay sets on every message.
    assert operation["bindings"]["amqp"]["deliveryMode"] == 2
    assert operation["bindings"]["amqp"]["mandatory"] is False
    message = _resolve(doc, channel["messages"]["Message"]["$ref"])
    envelope = _resolve(doc, message["payload"]["$ref"])
    assert {"event_id", "event_type", "correlation_id", "payload"} <= set(envelope["properties"])


def test_consumed_queues_list_bindings_dead_letters_and_every_handled_event() -> None:
    notify = _definition("notify")
    doc = build_asyncapi(notify)
    user_events = next(c for c in notify.consumers if c.queue_name == "notify.user-events")
    channel = doc["channels"]["notify.user-events"]
    assert channel["address"] == "notify.user-events"
    # The purpose's headers exchange, routing by shard to single-active-consumer partitions.
    assert channel["bindings"]["amqp"]["is"] == "routingKey"
    assert channel["bindings"]["amqp"]["exchange"]["type"] == "headers"
    assert "notify.user-events.p<k>" in channel["description"]
    assert "cabinet.events cabinet.user.registered.v1" in channel["description"]
    assert "notify.user-events.dlq" in channel["description"]
    handled = {f"{spec_of(m).event_type}.v{spec_of(m).version}" for m in user_events.models}
    assert set(channel["messages"]) == handled
    operation = doc["operations"]["notify.user-events"]
    assert operation["action"] == "receive"
    assert operation["bindings"]["amqp"]["ack"] is True
    assert len(operation["messages"]) == len(handled)
    message = _resolve(doc, channel["messages"]["cabinet.user.registered.v1"]["$ref"])
    payload = json.dumps(
        {
            name: _resolve(doc, f"#/components/schemas/{name}")
            for name in doc["components"]["schemas"]
        }
    )
    assert "x-personal-data" in payload and "user_id" in payload
    assert _resolve(doc, message["payload"]["$ref"])["title"] == "EventEnvelope[UserRegisteredV1]"
