"""Prometheus metrics of one service, in a registry of its own (tests run several services in
one process, and the default global registry would collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class ServiceMetrics:
    """The metrics every service exposes at ``/metrics``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "outbox_pending_events", "Outbox rows not yet published", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            registry=r,
        )
        self.outbox_published = Counter(
            "outbox_published_events_total", "Events published by the relay", registry=r
        )
        self.outbox_failures = Counter(
            "outbox_publish_failures_total", "Failed relay publish attempts", registry=r
        )
        self.relay_leader = Gauge(
            "outbox_relay_leader", "1 when this replica's relay holds the leader lock", registry=r
        )
        self.partitions_held = Gauge(
            "consumer_partitions_held",
            "Partition queues this replica is the active consumer of (lately)",
            registry=r,
        )
        self.housekeeping_leader = Gauge(
            "housekeeping_leader",
            "1 when this replica's housekeeping (retention purge) holds the leader lock",
            registry=r,
        )
        self.retention_deleted = Counter(
            "retention_deleted_rows_total",
            "Rows deleted past their retention, per rule (table.column)",
            ["rule"],
            registry=r,
        )
        self.consumed = Counter(
            "events_consumed_total",
            "Events handled",
            ["queue", "event_type", "outcome"],
            registry=r,
        )
        self.dlq_depth = Gauge(
            "dlq_messages", "Messages in a dead-letter queue", ["queue"], registry=r
        )
        self.timers_fired = Counter(
            "timers_fired_total", "Timers fired", ["kind", "outcome"], registry=r
        )
        self.timers_due = Gauge("timers_overdue", "Timers due and not yet fired", registry=r)
