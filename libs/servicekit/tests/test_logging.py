"""Every log line is one JSON object carrying the correlation (and causation) id."""

from __future__ import annotations

import json
import logging
import uuid

from servicekit.correlation import correlation_scope
from servicekit.logging import JsonFormatter


def test_json_line_carries_ids_and_extras() -> None:
    formatter = JsonFormatter("notify")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s", ("it",), None)
    record.event_id = "e-1"
    cause = uuid.uuid4()
    with correlation_scope("req-7", cause):
        line = formatter.format(record)
    doc = json.loads(line)
    assert doc["msg"] == "sent it"
    assert (doc["service"], doc["correlation_id"]) == ("notify", "req-7")
    assert doc["causation_id"] == str(cause)
    assert doc["event_id"] == "e-1"
    doc = json.loads(formatter.format(record))
    assert doc["correlation_id"] is None
    assert "causation_id" not in doc
