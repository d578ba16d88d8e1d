"""The edge as it runs: the image's own uvicorn command believes no forged X-Forwarded-For and
sends no ``server`` banner, and a journey through the local stack's gateway leaves none of its
personal data or capabilities in any log (the services' JSON lines, uvicorn's, nginx's)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from booking.bootstrap import definition as booking_definition
from devstack.environment import service_env
from devstack.layout import ROOT, free_port
from notify.config import NotifySettings
from notify.domain.tokens import unsubscribe_token
from servicekit.testing import migrated_database, temporary_vhost, wait_until

from .conftest import LocalStack
from .test_paid_journey import new_user

# The first test of the package starts the stack (up to three minutes on a busy machine).
pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.slow,
    pytest.mark.timeout(400),
]


def image_command() -> list[str]:
    """The ``CMD`` of deploy/service.Dockerfile, as the container runs it."""
    dockerfile = (ROOT / "deploy" / "service.Dockerfile").read_text()
    (line,) = [x for x in dockerfile.splitlines() if x.startswith("CMD ")]
    return list(json.loads(line.removeprefix("CMD ")))


async def test_the_image_command_believes_no_forged_forwarded_for_and_has_no_banner() -> None:
    """As docker-compose ran it before: FORWARDED_ALLOW_IPS="*" in the environment. A peer that
    is no configured gateway claims a YooKassa address; the allow-list must not believe it."""
    port = free_port()
    async with (
        migrated_database("booking", booking_definition.migrations_dir) as database_url,
        temporary_vhost() as amqp_url,
    ):
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "SERVICE": "booking",
            "PORT": str(port),
            "FORWARDED_ALLOW_IPS": "*",
            "ENVIRONMENT": "development",
            "DATABASE_URL": database_url,
            "AMQP_URL": amqp_url,
            "YOOKASSA_WEBHOOK_ALLOWLIST": "185.71.76.0/27",
        }
        env.pop("TRUSTED_PROXIES", None)
        process = await asyncio.create_subprocess_exec(
            *image_command(),
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

                async def up() -> bool:
                    try:
                        return (await http.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_until(up, timeout=60, interval=0.3)
                r = await http.post(
                    "/api/booking/payments/yookassa/webhook",
                    json={"event": "payment.succeeded", "object": {"id": str(uuid.uuid4())}},
                    headers={"X-Forwarded-For": "185.71.76.5", "X-Forwarded-Proto": "https"},
                )
                assert r.status_code == 403, r.text
                assert "server" not in r.headers
                assert r.headers["x-content-type-options"] == "nosniff"
                assert r.headers["cache-control"] == "no-store"
        finally:
            process.terminate()
            output = (await process.communicate())[0].decode(errors="replace")
    # uvicorn writes no access line of its own (servicekit's has no query string), and the
    # forged address is believed nowhere: the refusal logged the peer.
    assert '"uvicorn.access"' not in output and '"logger": "servicekit.access"' in output
    assert "185.71.76.5" not in output, output


async def test_a_journey_leaves_no_personal_data_or_capability_in_any_log(
    local_stack: LocalStack,
) -> None:
    stack = local_stack
    name, phone = "Евдокия Журналова", "+7 916 321-54-76"
    user_id, email, me = await new_user(stack, name)
    r = await stack.gateway.patch("/api/cabinet/me", json={"phone": phone}, headers=me)
    assert r.status_code == 200, r.text
    admin = {"authorization": f"Bearer {stack.token('admin')}"}
    r = await stack.gateway.post("/api/cabinet/users/search", json={"email": email}, headers=admin)
    assert [u["id"] for u in r.json()["items"]] == [user_id]
    # The one-time token of the verification link that was emailed (and redeemed).
    verification = stack.link_in(await stack.mail_to(email, "Подтвердите адрес"))
    verify_token = verification.split("#token=", 1)[1]
    # The one-click unsubscribe link of a news mail, opened through the gateway.
    key = NotifySettings(**_lower(service_env(stack.layout, "notify"))).link_signing_key
    unsubscribe = unsubscribe_token(uuid.UUID(user_id), key)
    r = await stack.gateway.get(f"/api/notify/unsubscribe/{unsubscribe}?email={email}")
    assert r.status_code == 200
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # Straight to a service's port: no `server` banner from uvicorn.
    async with httpx.AsyncClient(base_url=stack.layout.service_url("cabinet")) as direct:
        assert "server" not in (await direct.get("/healthz")).headers
    await asyncio.sleep(1)  # log lines are flushed

    # The services' and the gateway's logs (the sandbox stands for the outside world: a mail
    # server keeps the addresses it delivers to).
    logs = [p for p in stack.layout.state.rglob("*.log") if p.is_file() and "sandbox" not in p.name]
    assert any(p.name == "access.log" for p in logs), logs  # nginx's is among them
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    assert "/api/notify/unsubscribe/{token}" in text  # the request was logged, redacted
    access = stack.token("admin").split(".")[2]
    digits = re.sub(r"\D", "", phone)
    for secret in (
        email,
        email.split("@")[0],
        name,
        "Журналова",
        digits,
        phone,
        verify_token,
        unsubscribe,
        access,
    ):
        assert secret not in text, f"{secret!r} is in the logs"


def _lower(env: dict[str, str]) -> dict[str, str]:
    """The environment as settings keyword arguments (only the variables notify reads)."""
    fields = set(NotifySettings.model_fields)
    return {k.lower(): v for k, v in env.items() if k.lower() in fields}


async def test_the_command_lines_leave_the_caller_to_servicekit() -> None:
    """The image and the local run start uvicorn the same way; compose sets no uvicorn trust."""
    image = shlex.split(image_command()[-1])
    for flag in ("--no-proxy-headers", "--no-server-header", "--no-access-log"):
        assert flag in image
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "FORWARDED_ALLOW_IPS" not in compose
    assert "TRUSTED_PROXIES" in compose
