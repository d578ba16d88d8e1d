"""A client generated from each service's own ``/openapi.json`` (openapi-python-client, as a
front end or a partner would make one) reads the services' real answers: successes into their
models and errors into the ``Problem`` model, with no status left undocumented (the clients
raise on a status their spec does not declare)."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from ..conftest import Stack

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
async def clients(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """Each service's generated client package, made from the spec the running service serves."""
    root = tmp_path_factory.mktemp("generated")
    sys.path.insert(0, str(root))
    packages: dict[str, ModuleType] = {}
    try:
        for name, service in stack.services.items():
            spec = (await service.client.get("/openapi.json")).json()
            spec_file = root / f"{name}.json"
            spec_file.write_text(json.dumps(spec))
            package = f"generated_{name}_client"
            generate = await asyncio.create_subprocess_exec(
                str(GENERATOR),
                "generate",
                "--path",
                str(spec_file),
                "--output-path",
                str(root / package),
                "--meta",
                "none",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            async with asyncio.timeout(120):
                output = (await generate.communicate())[0].decode()
            assert generate.returncode == 0, output
            assert "Warning" not in output, output  # every operation was understood
            packages[name] = importlib.import_module(package)
        yield packages  # type: ignore[misc]
    finally:
        sys.path.remove(str(root))


def operation(client_package: ModuleType, operation_id: str) -> ModuleType:
    """The generated module of one operation (``api/<tag>/<operationId>.py``, with runs of
    underscores made one, as the generator names it)."""
    module = re.sub("_+", "_", operation_id)
    found = list(Path(client_package.__path__[0]).glob(f"api/*/{module}.py"))
    assert len(found) == 1, f"{operation_id} not generated"
    tag = found[0].parent.name
    return importlib.import_module(f"{client_package.__name__}.api.{tag}.{module}")


@contextmanager
def client_for(stack: Stack, package: ModuleType, name: str, **headers: str) -> Iterator[Any]:
    app = stack[name].app
    client = package.Client(base_url=f"http://{name}", raise_on_unexpected_status=True)
    client.set_async_httpx_client(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", headers=headers
        )
    )
    yield client


def assert_problem(package: ModuleType, answer: Any, status: int, code: str) -> Any:
    problem_model = package.models.Problem
    assert answer.status_code == status, answer.content
    assert isinstance(answer.parsed, problem_model), answer.parsed
    assert answer.parsed.status == status and answer.parsed.code == code
    assert isinstance(answer.parsed.detail, str) and answer.parsed.detail
    assert answer.headers["content-type"] == "application/problem+json"
    return answer.parsed


async def test_cabinet_client_reads_an_acceptance_a_field_error_and_a_401(
    stack: Stack, clients: dict[str, ModuleType]
) -> None:
    cabinet = clients["cabinet"]
    register = operation(cabinet, "register_api_cabinet_registrations_post")
    body_model = cabinet.models.RegistrationCreate
    with client_for(stack, cabinet, "cabinet") as client:
        email = f"gen-{uuid.uuid4().hex[:8]}@example.org"
        ok = await register.asyncio_detailed(
            client=client, body=body_model(email=email, password="a long enough one", name="Gen")
        )
        assert ok.status_code == 202
        assert isinstance(ok.parsed, cabinet.models.Accepted) and ok.parsed.status == "accepted"

        bad = await register.asyncio_detailed(
            client=client, body=body_model(email=email, password="short", name="Gen")
        )
        problem = assert_problem(cabinet, bad, 422, "validation_failed")
        assert [(e.loc, e.type_) for e in problem.errors] == [
            (["body", "password"], "string_too_short")
        ]
        assert isinstance(problem.errors[0], cabinet.models.FieldError)

        me = operation(cabinet, "me_api_cabinet_me_get")
        assert_problem(cabinet, await me.asyncio_detailed(client=client), 401, "unauthorized")


async def test_booking_client_reads_a_page_and_a_404(
    stack: Stack, clients: dict[str, ModuleType]
) -> None:
    booking = clients["booking"]
    with client_for(stack, booking, "booking", **stack.auth("client")) as client:
        services = operation(booking, "list_services_api_booking_services_get")
        page = await services.asyncio_detailed(client=client)
        assert page.status_code == 200, page.content
        assert isinstance(page.parsed.items, list)

        one = operation(booking, "get_appointment_api_booking_appointments__appointment_id__get")
        missing = await one.asyncio_detailed(uuid.uuid4(), client=client)
        assert_problem(booking, missing, 404, "not_found")

        slots = operation(booking, "list_slots_api_booking_slots_get")
        bad = await slots.asyncio_detailed(client=client, service_id=uuid.uuid4(), tz="Mars/Base")
        problem = assert_problem(booking, bad, 422, "validation_failed")
        assert [e.loc for e in problem.errors] == [["query", "tz"]]


async def test_notify_and_content_clients_read_their_answers(
    stack: Stack, clients: dict[str, ModuleType]
) -> None:
    notify = clients["notify"]
    with client_for(stack, notify, "notify", **stack.auth("admin")) as client:
        deliveries = operation(notify, "list_deliveries_api_notify_deliveries_get")
        page = await deliveries.asyncio_detailed(client=client)
        assert page.status_code == 200, page.content
        assert isinstance(page.parsed.items, list)
    with client_for(stack, notify, "notify", **stack.auth("client")) as client:
        forbidden = await deliveries.asyncio_detailed(client=client)
        assert_problem(notify, forbidden, 403, "forbidden")

    content = clients["content"]
    with client_for(stack, content, "content") as client:
        health = operation(content, "healthz_healthz_get")
        alive = await health.asyncio_detailed(client=client)
        assert alive.status_code == 200 and alive.parsed["status"] == "ok"
