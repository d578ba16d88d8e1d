"""The environment each process of a stack runs with: what ``make run`` configures.

Everything here is the local run's configuration, and end-to-end tests use it unchanged: only
the addresses differ between ``make run`` and a test's own stack (see :class:`StackLayout`).
Production's values are in docker-compose.yml and deploy/.env.example; the services' own
defaults are production-safe or refuse to start there.
"""

from __future__ import annotations

import os

from devstack.layout import LOOPBACK, StackLayout

#: Who may reach the services through the gateway: the gateway itself, on this machine.
LOCAL_PROXIES = f"{LOOPBACK}/32,::1/128"
#: Where the sandbox YooKassa's notifications come from (its default source address).
SANDBOX_NOTIFICATION_SOURCES = f"{LOOPBACK}/32"


def service_env(layout: StackLayout, name: str) -> dict[str, str]:
    """The environment service ``name`` runs with in this stack (its migrations too)."""
    env = dict(os.environ)
    origin = layout.origin
    env.update(
        {
            "ENVIRONMENT": "development",
            "DATABASE_URL": layout.database_url(name),
            "AMQP_URL": layout.amqp_url,
            "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", "5"),
            "JWKS_URL": f"{layout.service_url('cabinet')}/.well-known/jwks.json",
            "JWT_SIGNING_KEYS_FILE": str(layout.signing_keys_file),
            # Every link a person is sent, YooKassa's return page and the Telegram webhook
            # start at the gateway, never at a service's port (each service derives them).
            "PUBLIC_ORIGIN": origin,
            "TRUSTED_PROXIES": LOCAL_PROXIES,
        }
    )
    if name == "booking":
        env.update(
            {
                "YOOKASSA_BASE_URL": f"{layout.sandbox_url('yookassa')}/v3",
                # The sandbox YooKassa notifies from the loopback, through the gateway: believe
                # the gateway's X-Forwarded-For and accept the sandbox's address. Production
                # keeps YooKassa's published networks (and refuses private ones).
                "YOOKASSA_WEBHOOK_ALLOWLIST": SANDBOX_NOTIFICATION_SOURCES,
                # Google Calendar: the sandbox's API and token endpoint; its watch notifications
                # come back through the gateway (booking derives the address from PUBLIC_ORIGIN).
                "GOOGLE_CALENDAR_API_BASE": f"{layout.sandbox_url('google')}/calendar/v3",
                "GOOGLE_TOKEN_URI": f"{layout.sandbox_url('google')}/token",
                "GOOGLE_REVOKE_URI": f"{layout.sandbox_url('google')}/revoke",
            }
        )
    elif name == "notify":
        env.update(
            {
                "SMTP_HOST": LOOPBACK,
                "SMTP_PORT": str(layout.sandbox["smtp"]),
                "TELEGRAM_API_BASE": layout.sandbox_url("telegram"),
            }
        )
    return env


def sandbox_env(layout: StackLayout) -> dict[str, str]:
    """The sandbox fakes' environment: their ports, and YooKassa's webhook (the gateway)."""
    from sandbox.registry import port_env_var

    env = dict(os.environ)
    env.update({port_env_var(name): str(port) for name, port in layout.sandbox.items()})
    # YooKassa's notifications go to booking's webhook through the gateway, as the shop's
    # settings in YooKassa's cabinet would say in production.
    env["SANDBOX_YOOKASSA_WEBHOOK_URL"] = f"{layout.origin}/api/booking/payments/yookassa/webhook"
    return env
