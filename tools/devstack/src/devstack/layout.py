"""Where a stack lives: ports, database names, the broker URL and its state directory."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SERVICES: dict[str, int] = {"booking": 8001, "content": 8002, "cabinet": 8003, "notify": 8004}
#: The sandbox's port names (see sandbox.registry) and their standard ports.
SANDBOX_PORTS: dict[str, int] = {
    "yookassa": 9001,
    "telegram": 9002,
    "google": 9003,
    "smtp-inspection": 9004,
    "smtp": 9025,
}
GATEWAY_PORT = 8080
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on right now (for a test's own stack)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class StackLayout:
    """One stack's addresses and names. :meth:`local` is ``make run``'s; tests make their own."""

    state: Path
    """Logs, pid files, the gateway's rendered configuration, cabinet's signing keys."""
    amqp_url: str
    database_prefix: str = "praktika_"
    pg_admin_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    services: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    sandbox: dict[str, int] = field(default_factory=lambda: dict(SANDBOX_PORTS))
    gateway_port: int = GATEWAY_PORT

    @classmethod
    def local(cls) -> StackLayout:
        """The stack ``make run`` starts (the environment may move PostgreSQL and RabbitMQ)."""
        return cls(
            state=ROOT / ".local",
            amqp_url=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
            pg_admin_dsn=os.environ.get(
                "PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
            ),
        )

    @classmethod
    def on_free_ports(cls, state: Path, *, amqp_url: str, database_prefix: str) -> StackLayout:
        """A second stack beside a running one: every port free, its own names."""
        return cls(
            state=state,
            amqp_url=amqp_url,
            database_prefix=database_prefix,
            services={name: free_port() for name in SERVICES},
            sandbox={name: free_port() for name in SANDBOX_PORTS},
            gateway_port=free_port(),
        )

    @property
    def origin(self) -> str:
        """The one public origin: the gateway. Every link in mail and Telegram starts here."""
        return f"http://{LOOPBACK}:{self.gateway_port}"

    def service_url(self, name: str) -> str:
        """A service's own port, for debugging and health checks (never in links)."""
        return f"http://{LOOPBACK}:{self.services[name]}"

    def sandbox_url(self, port_name: str) -> str:
        """A sandbox fake's HTTP base (``yookassa``, ``telegram``, ``google``,
        ``smtp-inspection``)."""
        return f"http://{LOOPBACK}:{self.sandbox[port_name]}"

    def database_name(self, service: str) -> str:
        """The service's database in this stack."""
        return f"{self.database_prefix}{service}"

    def database_url(self, service: str) -> str:
        """The service's SQLAlchemy (asyncpg) URL."""
        base = self.pg_admin_dsn.rsplit("/", 1)[0]
        base = base.replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{self.database_name(service)}"

    @property
    def signing_keys_file(self) -> Path:
        """cabinet's private signing keys (what ``make token`` signs with)."""
        return self.state / "cabinet-signing-keys.json"
