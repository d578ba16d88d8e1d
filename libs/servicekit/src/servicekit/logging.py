"""JSON log lines with the correlation id on every line (and the trace and span ids when the
work is traced: :mod:`servicekit.tracing`).

P2 data never goes into logs: log ids, never names, emails, answers or notes. The access log is
servicekit's own (:mod:`servicekit.http.edge`): paths without query strings or capabilities.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from servicekit.correlation import current_causation_id, current_correlation_id
from servicekit.tracing import trace_ids

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, correlation_id,
    trace_id and span_id (when traced), extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self.service,
            "correlation_id": current_correlation_id(),
        }
        causation = current_causation_id()
        if causation is not None:
            doc["causation_id"] = str(causation)
        traced = trace_ids()
        if traced is not None:
            doc["trace_id"], doc["span_id"] = traced
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route the root logger (and uvicorn's) to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # uvicorn's access line has the query string and every path segment (an unsubscribe
    # token): servicekit.access writes the one access log (servicekit.http.edge), even when
    # uvicorn is started without --no-access-log.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every outgoing request's full URL at INFO: Telegram's carries the bot token.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # aiormq/aio-pika are chatty at INFO during reconnects; warnings still show.
    for name in ("aiormq", "aio_pika"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
