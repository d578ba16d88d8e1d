"""Each service's committed AsyncAPI document is what its code generates now."""

from __future__ import annotations

import importlib
import json

import pytest
from servicekit.asyncapi import build_asyncapi, render
from servicekit.cli import asyncapi_path


@pytest.mark.parametrize("service", ["booking", "content", "cabinet", "notify"])
def test_committed_asyncapi_is_current(service: str) -> None:
    definition = importlib.import_module(f"{service}.bootstrap").definition
    path = asyncapi_path(definition)
    assert path.exists(), f"run `uv run {service}-admin asyncapi`"
    assert path.read_text() == render(definition), f"stale: run `uv run {service}-admin asyncapi`"


def test_document_describes_queues_bindings_and_payloads() -> None:
    notify = importlib.import_module("notify.bootstrap").definition
    doc = build_asyncapi(notify)
    assert doc["asyncapi"] == "3.0.0"
    channel = doc["channels"]["notify_user_events"]
    assert channel["address"] == "notify.user-events"
    assert "cabinet.events cabinet.user.registered.v1" in channel["description"]
    assert "notify.user-events.dlq" in channel["description"]
    message = channel["messages"]["cabinet_user_registered_v1"]
    payload = json.dumps(message["payload"])
    assert "x-personal-data" in payload and "user_id" in payload
    cabinet = build_asyncapi(importlib.import_module("cabinet.bootstrap").definition)
    sent = [op for op in cabinet["operations"].values() if op["action"] == "send"]
    assert sent, "cabinet publishes user.registered"
