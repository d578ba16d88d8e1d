"""AsyncAPI 3.0 document of a service, generated from its definition and the contracts.

It describes what the service really does on the wire: the events it publishes through its
outbox (exchange, routing key, envelope + payload schema) and the queues it consumes (bindings,
dead-lettering, handled events). Generated from the same objects the runtime wires, so it cannot
drift; CI compares it with the committed ``services/<svc>/asyncapi.json``.

FastStream can render AsyncAPI for its own publishers and subscribers, but here publishing goes
through the outbox relay and one queue dispatches several event types, so the document is built
from our definitions instead.
"""

from __future__ import annotations

import json
from typing import Any

from contracts.envelope import EventEnvelope
from contracts.registry import EventSpec, spec_of

from servicekit.runtime import ServiceDefinition


def _message_name(spec: EventSpec) -> str:
    return f"{spec.event_type}.v{spec.version}"


def _message(spec: EventSpec) -> dict[str, Any]:
    schema = EventEnvelope[spec.model].model_json_schema()  # type: ignore[name-defined]
    return {
        "name": _message_name(spec),
        "title": spec.model.__name__,
        "summary": (spec.model.__doc__ or "").strip().split("\n")[0],
        "contentType": "application/json",
        "payload": schema,
        "bindings": {"amqp": {"messageType": spec.event_type, "bindingVersion": "0.3.0"}},
    }


def _channel_id(text: str) -> str:
    return text.replace(".", "_").replace("-", "_")


def build_asyncapi(definition: ServiceDefinition) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``definition``."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for model in sorted(definition.produces, key=lambda m: _message_name(spec_of(m))):
        spec = spec_of(model)
        cid = _channel_id(f"{spec.exchange}/{spec.routing_key}")
        channels[cid] = {
            "address": spec.routing_key,
            "description": f"Published by {definition.name} through its outbox relay.",
            "messages": {_channel_id(_message_name(spec)): _message(spec)},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": spec.exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[_channel_id(f"publish_{spec.event_type}_v{spec.version}")] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
    for consumer in sorted(definition.consumers, key=lambda c: c.queue_name):
        queue = consumer.queue()
        cid = _channel_id(queue.name)
        specs = sorted((spec_of(m) for m in consumer.models), key=_message_name)
        channels[cid] = {
            "address": queue.name,
            "description": (
                f"Quorum queue of {definition.name}; dead letters go to {queue.dlq} "
                f"through {queue.dlx}. Bound to: "
                + ", ".join(f"{ex} {rk}" for ex, rk in queue.bindings)
            ),
            "messages": {_channel_id(_message_name(s)): _message(s) for s in specs},
            "bindings": {
                "amqp": {
                    "is": "queue",
                    "queue": {
                        "name": queue.name,
                        "durable": True,
                        "exclusive": False,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[_channel_id(f"consume_{queue.name}")] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{definition.title} events",
            "version": "1.0.0",
            "description": definition.description,
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
    }


def render(definition: ServiceDefinition) -> str:
    """The document as stable, pretty JSON (what is committed)."""
    return (
        json.dumps(build_asyncapi(definition), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
