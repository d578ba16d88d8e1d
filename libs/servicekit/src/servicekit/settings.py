"""Settings base for every service, read from environment variables by pydantic-settings.

Production is the default (``ENVIRONMENT`` unset means ``production``). The development
defaults (keys, sandbox credentials, ``http://`` origins) are accepted only when the environment
says ``development`` or ``test`` explicitly (``make run``, ``make token`` and the tests do);
anywhere else the settings refuse to start with them. In every environment a secret containing
``CHANGE_ME`` (deploy/.env.example's placeholder) is refused; in production a secret we
generate ourselves must hold at least :data:`MIN_SECRET_BYTES` bytes and the public origin must
be ``https``. A service lists its own secrets by overriding :meth:`ServiceSettings.secrets`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from servicekit.http.client_ip import parse_networks

# Development-only secrets: fine on a laptop, refused anywhere else (see ``_refuse_dev_secrets``).
DEV_FIELD_KEY = "ZGV2LWZpZWxkLWtleS1kby1ub3QtdXNlLWluLXByb2Q="  # base64 of 32 bytes
DEV_BLIND_INDEX_KEY = "dev-blind-index-key-do-not-use-in-prod"
DEV_CAPABILITY_KEY = "ZGV2LWNhcGFiaWxpdHkta2V5LW5vdC1mb3ItcHJvZCE="  # base64 of 32 bytes


_CSV_FIELDS = ("jwt_algorithms", "field_keys", "capability_keys", "trusted_proxies")

#: The shortest secret production accepts (bytes of its text), for the secrets we generate.
MIN_SECRET_BYTES = 32
#: deploy/.env.example's placeholder: a secret containing it was never filled in.
PLACEHOLDER = "CHANGE_ME"
#: Environments that asked for the development defaults explicitly.
DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "test"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses it, sets ``service_name`` and adds its own fields."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    service_name: str = "service"
    # Production unless the environment asks for development explicitly (make run, tests).
    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_json: bool = True
    # One line per request (servicekit.http.edge: route template, no query, no capability).
    access_log: bool = True

    # The one origin users reach the system at (the gateway): every link in a message, every
    # return URL is built on it, never on a service's own port (those are for debugging).
    public_origin: str = "http://127.0.0.1:8080"

    # The gateways whose X-Forwarded-For is believed (servicekit.http.client_ip, the one place
    # that decides who is calling); any other peer is the client itself. The same default in
    # every service: nobody. The local run and docker-compose name their gateway.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The largest request body a service reads (413 problem+json beyond it), whatever the
    # gateway in front of it allows.
    max_request_bytes: int = Field(default=1_048_576, ge=1024)

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/praktika"
    # Connections a process keeps at most (opened as needed), besides its relay's and timers'.
    # Small by default so a laptop runs `make run` and `make test` side by side within
    # PostgreSQL's 100 connections; production sets it per its load (docs/operations.md).
    db_pool_size: int = Field(default=5, ge=1)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    prefetch_count: int = 128
    consumer_partitions: int = 4  # concurrent transactions per queue (aggregates stay ordered)
    # Partition queues per consumer purpose, each with a single active consumer: how far the
    # purpose spreads over replicas (servicekit.messaging.topology).
    queue_partitions: int = Field(default=4, ge=1, le=32)
    # How often a replica probes which partitions it holds and gives up more than its share.
    rebalance_seconds: float = Field(default=5.0, gt=0)

    # Outbox relay and timers.
    run_relay: bool = True
    run_consumers: bool = True
    run_timers: bool = True
    # Retention purge (servicekit.housekeeping): one leader per database, every this many seconds.
    run_housekeeping: bool = True
    housekeeping_seconds: float = Field(default=600.0, gt=0)
    relay_batch_size: int = 200
    relay_poll_seconds: float = 1.0
    timers_poll_seconds: float = 1.0
    delivery_limit: int = 5

    # JWT verification (cabinet issues; every service verifies).
    jwt_issuer: str = "praktika-cabinet"
    jwt_audience: str = "praktika"
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["EdDSA", "RS256"]
    )
    jwks_url: str | None = "http://127.0.0.1:8003/.well-known/jwks.json"
    jwt_public_jwks: str | None = None  # a JWKS document as JSON, instead of (or before) the URL
    jwks_cache_seconds: float = 300.0
    # An unknown kid refetches the JWKS at most this often (cabinet publishes a new key at least
    # this long before signing with it: JWT_KEY_ACTIVATION_SECONDS).
    jwks_min_refresh_seconds: float = 5.0
    # The longest access token any verifier accepts (exp - iat); cabinet issues 15 minutes.
    jwt_max_lifetime_seconds: int = Field(default=900, ge=60, le=3600)

    # Field encryption of P2 data: Fernet keys, newest first, and the blind-index HMAC key.
    field_keys: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [DEV_FIELD_KEY])
    blind_index_key: str = DEV_BLIND_INDEX_KEY
    # Fernet keys (newest first) sealing one-time links in events (servicekit.messaging.sealing):
    # only the services that mint or deliver them (cabinet, notify) hold any; elsewhere empty.
    capability_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in _CSV_FIELDS:
                for key in (name, name.upper()):
                    if key in data:
                        data[key] = _split_csv(data[key])
        return data

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # a typo refuses to start instead of trusting nobody silently
        return value

    @field_validator("public_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        origin = value.rstrip("/")
        scheme, _, host = origin.partition("://")
        if scheme not in ("http", "https") or not host or "/" in host:
            raise ValueError("PUBLIC_ORIGIN is scheme://host[:port], e.g. https://praktika.example")
        return origin

    def public_url(self, path: str) -> str:
        """``path`` (``/verify-email``, ``/api/notify/…``) on the public origin."""
        return f"{self.public_origin}/{path.lstrip('/')}"

    @property
    def is_development(self) -> bool:
        """True when the environment asked for development defaults (``development``/``test``)."""
        return self.environment in DEVELOPMENT_ENVIRONMENTS

    def secrets(self) -> Iterator[tuple[str, str | None, bool]]:
        """Every secret setting: ``(ENV_NAME, value, we_generate_it)``.

        A subclass yields its own after ``yield from super().secrets()``. ``we_generate_it``
        is False for credentials a third party issues in its own format (a bot token, a
        payment provider's key, an SMTP password): those are only checked for the placeholder.
        """
        for key in self.field_keys:
            yield "FIELD_KEYS", key, True
        for key in self.capability_keys:
            yield "CAPABILITY_KEYS", key, True
        yield "BLIND_INDEX_KEY", self.blind_index_key, True
        yield "DATABASE_URL (password)", urlsplit(self.database_url).password, True
        yield "AMQP_URL (password)", urlsplit(self.amqp_url).password, True

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> ServiceSettings:
        if not self.field_keys:
            raise ValueError("FIELD_KEYS must hold at least one Fernet key")
        problems = [
            f"{name} still holds the placeholder {PLACEHOLDER}"
            for name, value, _ in self.secrets()
            if value is not None and PLACEHOLDER in value
        ]
        if not self.is_development:
            dev_keys = (
                DEV_FIELD_KEY in self.field_keys
                or self.blind_index_key == DEV_BLIND_INDEX_KEY
                or DEV_CAPABILITY_KEY in self.capability_keys
            )
            if dev_keys:
                problems.append(
                    "FIELD_KEYS / BLIND_INDEX_KEY / CAPABILITY_KEYS are the development keys: "
                    "set real ones, or ENVIRONMENT=development on a laptop"
                )
            problems += [
                f"{name} is shorter than {MIN_SECRET_BYTES} bytes"
                for name, value, generated in self.secrets()
                if generated and value and len(value.encode()) < MIN_SECRET_BYTES
            ]
            if not self.public_origin.startswith("https://"):
                problems.append(f"PUBLIC_ORIGIN must be https in {self.environment}")
        if problems:
            raise ValueError(
                f"refusing to start ({self.environment} settings): " + "; ".join(problems)
            )
        return self
