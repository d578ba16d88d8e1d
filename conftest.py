"""The two test lanes (``make test-fast`` and ``make test``), decided here for every test.

A test is ``integration`` (the full lane only) when it needs PostgreSQL, RabbitMQ, a running
service or a started stack: its fixtures reach one of :data:`INFRA_FIXTURES`, or its module starts
such things itself (:data:`INFRA_CALLS` in its source). Everything else — domain rules, contracts,
pure functions, an app driven in process without its lifespan — is the fast lane: seconds, no
services needed (``pytest -m "not integration"``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

#: Fixtures that start or reach infrastructure (directly or through their own fixtures).
INFRA_FIXTURES = frozenset(
    {
        "amqp_url",
        "database_url",
        "kit",
        "booking",
        "cabinet",
        "notify",
        "content",
        "stack",
        "local_stack",
        "smtp",
        "yookassa",
        "telegram",
    }
)

#: What a test module calls when it starts infrastructure itself.
INFRA_CALLS = (
    "temporary_database",
    "temporary_vhost",
    "migrated_database",
    "running_service",
    "asyncpg.connect",
    "aio_pika.connect",
    "running_yookassa",
    "running_telegram",
    "running_smtp_sink",
    "subprocess",
)


@functools.cache
def _starts_infrastructure(path: Path) -> bool:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return any(call in source for call in INFRA_CALLS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs PostgreSQL, RabbitMQ or running services (not in test-fast)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & INFRA_FIXTURES or _starts_infrastructure(Path(str(item.path))):
            item.add_marker(pytest.mark.integration)
